// `mimi-ds conformance <passive-client vector file>`: the differential test of the key-less
// engine against a ts-mls member given the vector's keys. Exit 0 iff no divergence.
import { existsSync } from "node:fs";
import { formatConformance, runPassiveClientConformance } from "../ds/engine/conformance.js";
import { type CommandSpec, helpText, UsageError } from "./flags.js";

export const conformanceSpec: CommandSpec = {
  usage: "mimi-ds conformance <passive-client-vector.json> [more files...]",
  summary:
    "Runs the DS engine against every case of MLS passive-client vector files (passive-client-handling-commit,\n" +
    "passive-client-welcome, ...) with a ts-mls member as the oracle, printing epochs and proposals processed\n" +
    "and every divergence. Exit status 0 iff there is no divergence.",
  flags: [],
};

export async function main(argv: string[]): Promise<number> {
  if (argv.includes("--help")) {
    process.stdout.write(helpText(conformanceSpec) + "\n");
    return 0;
  }
  if (argv.length === 0) throw new UsageError("name at least one vector file");
  let divergences = 0;
  for (const file of argv) {
    if (file.startsWith("--")) throw new UsageError(`unknown flag ${file}`);
    if (!existsSync(file)) throw new UsageError(`no such file: ${file}`);
    let r;
    try {
      r = await runPassiveClientConformance(file);
    } catch (e) {
      process.stderr.write(`${file}: cannot run: ${(e as Error).message}\n`);
      return 2;
    }
    process.stdout.write(formatConformance(file, r) + "\n");
    for (const d of r.divergences) process.stdout.write(`  divergence: ${d}\n`);
    divergences += r.divergences.length;
  }
  return divergences === 0 ? 0 : 1;
}
