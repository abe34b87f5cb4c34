// Flag parsing shared by every subcommand: each flag has an environment-variable equivalent,
// flags win over the environment, and every subcommand prints the same style of --help.

export interface FlagSpec {
  /** long name without dashes, e.g. "listen" */
  name: string;
  /** environment variable consulted when the flag is absent */
  env: string;
  description: string;
  default?: string;
  /** repeatable flags collect every occurrence; the env form is comma-separated */
  repeatable?: boolean;
  /** boolean switch: present means "true" */
  boolean?: boolean;
}

export interface CommandSpec {
  usage: string;
  summary: string;
  flags: FlagSpec[];
}

export class UsageError extends Error {
  override name = "UsageError";
}

export type ParsedFlags = Record<string, string[]>;

export function parseFlags(spec: CommandSpec, argv: string[], env: NodeJS.ProcessEnv = process.env): ParsedFlags {
  const byName = new Map(spec.flags.map((f) => [f.name, f]));
  const out: ParsedFlags = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith("--")) throw new UsageError(`unexpected argument: ${arg}`);
    let name = arg.slice(2);
    let value: string | undefined;
    const eq = name.indexOf("=");
    if (eq >= 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    const f = byName.get(name);
    if (!f) throw new UsageError(`unknown flag: --${name}`);
    if (f.boolean) {
      value = value ?? "true";
    } else if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new UsageError(`flag --${name} needs a value`);
    }
    if (f.repeatable) (out[name] ??= []).push(value);
    else out[name] = [value];
  }
  for (const f of spec.flags) {
    if (out[f.name]) continue;
    const e = env[f.env];
    if (e !== undefined && e !== "") {
      out[f.name] = f.repeatable ? e.split(",").map((s) => s.trim()).filter(Boolean) : [e];
    } else if (f.default !== undefined) {
      out[f.name] = [f.default];
    }
  }
  return out;
}

export function flag(p: ParsedFlags, name: string): string | undefined {
  return p[name]?.[0];
}

export function requiredFlag(p: ParsedFlags, name: string): string {
  const v = flag(p, name);
  if (v === undefined) throw new UsageError(`missing required flag --${name}`);
  return v;
}

export function intFlag(p: ParsedFlags, name: string): number | undefined {
  const v = flag(p, name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new UsageError(`flag --${name} must be a non-negative integer`);
  return Number(v);
}

export function helpText(spec: CommandSpec): string {
  const lines = [`usage: ${spec.usage}`, "", spec.summary, "", "flags (environment variable in brackets):"];
  for (const f of spec.flags) {
    const def = f.default !== undefined ? ` (default ${f.default})` : "";
    const rep = f.repeatable ? " (repeatable)" : "";
    lines.push(`  --${f.name}${f.boolean ? "" : " VALUE"}  [${f.env}]${rep}${def}`);
    lines.push(`      ${f.description}`);
  }
  lines.push("  --help", "      print this help");
  return lines.join("\n");
}

/** Parses "HOST:PORT" or "[v6]:PORT". */
export function parseListen(s: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]]+)):(\d{1,5})$/.exec(s);
  if (!m) throw new UsageError(`--listen must be HOST:PORT, got ${JSON.stringify(s)}`);
  const port = Number(m[3]);
  if (port > 65535) throw new UsageError(`port out of range: ${port}`);
  return { host: (m[1] ?? m[2])!, port };
}

export function boolFlag(p: ParsedFlags, name: string): boolean {
  const v = flag(p, name);
  return v !== undefined && /^(1|true|yes|on)$/i.test(v);
}
