// Starting role processes (relay, gateway, provider) as real child processes of this CLI,
// used by `mimi-ds start`, the end-to-end tests and the benchmarks.
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import { fileURLToPath } from "node:url";

/** The command line that runs this CLI again: works compiled (dist) and under tsx (src). */
export function cliCommand(): { command: string; args: string[] } {
  const here = fileURLToPath(import.meta.url);
  const main = here.replace(/processes\.(ts|js)$/, (_m, ext: string) => `main.${ext}`);
  const args = main.endsWith(".ts") ? ["--import", "tsx", main] : [main];
  return { command: process.execPath, args };
}

export interface RoleProcess {
  name: string;
  child: ChildProcess;
  url: string;
  /** what the process printed on stdout up to its listening line (other listeners it announced) */
  banner: string;
  /** resolves with the exit code when the process ends */
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
}

/**
 * Spawns `mimi-ds <args>` and waits for its "<name> listening on URL" line on stdout.
 * stderr (JSON logs) goes to `logFile` when given, else is discarded.
 */
export async function startRole(
  name: string,
  args: string[],
  opts: { logFile?: string; env?: NodeJS.ProcessEnv; startTimeoutMs?: number } = {},
): Promise<RoleProcess> {
  const { command, args: base } = cliCommand();
  const child = spawn(command, [...base, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...opts.env },
    // Its own process group: a terminal's Ctrl-C reaches only the launcher, which then stops
    // the roles front to back instead of racing them.
    detached: true,
  });
  let log: WriteStream | undefined;
  if (opts.logFile) {
    log = createWriteStream(opts.logFile, { flags: "a", mode: 0o600 });
    child.stderr!.pipe(log);
  } else {
    child.stderr!.resume();
  }
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let banner = "";
  const url = await new Promise<string>((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${name} did not start within ${opts.startTimeoutMs ?? 20000} ms`));
    }, opts.startTimeoutMs ?? 20000);
    const onData = (d: Buffer) => {
      buf += d.toString("utf8");
      const m = new RegExp(`${name} listening on (\\S+)`).exec(buf);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off("data", onData);
        child.stdout!.resume();
        banner = buf;
        resolve(m[1]!);
      }
    };
    child.stdout!.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with code ${code} before listening${opts.logFile ? ` (see ${opts.logFile})` : ""}`));
    });
  });
  return {
    name,
    child,
    url,
    banner,
    exited,
    async stop(signal: NodeJS.Signals = "SIGTERM", timeoutMs = 10000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const t = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      const code = await exited;
      clearTimeout(t);
      log?.end();
      return code;
    },
  };
}
