// The README's first command from a fresh clone, as a new user runs it: git clone, npm ci,
// npm start (all roles as processes on loopback; ports from the environment so tests never
// collide), the demo succeeds, Ctrl-C stops everything cleanly.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, it } from "node:test";
import { repoRoot } from "../helpers/repo.js";

const run = promisify(execFile);

describe("README quick start from a fresh clone", () => {
  it("installs, starts every role, runs the demo to `demo: ok`, and stops on SIGINT", { timeout: 600_000, skip: !existsSync(join(repoRoot(), ".git")) && "not a git checkout" }, async () => {
    const readme = await readFile(join(repoRoot(), "README.md"), "utf8");
    const first = /```sh\n([^\n]+)/.exec(readme)?.[1] ?? "";
    assert.match(first, /^npm ci && npm start\b/, "the README starts with the install+run command this test runs");
    const dir = await mkdtemp(join(tmpdir(), "mimi-clone-"));
    try {
      await run("git", ["clone", "--quiet", repoRoot(), join(dir, "repo")]);
      const cwd = join(dir, "repo");
      await run("npm", ["ci", "--no-audit", "--no-fund"], { cwd, maxBuffer: 64 << 20 });
      const env = { ...process.env, MIMI_RELAY_PORT: "0", MIMI_GATEWAY_PORT: "0", MIMI_PROVIDER_PORT: "0", MIMI_DATA_DIR: join(dir, "data") };
      const child = spawn("npm", ["start"], { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
      child.stderr!.resume();
      const exited = new Promise<{ code: number | null; signal: string | null }>((r) => child.once("exit", (code, signal) => r({ code, signal })));
      const deadline = Date.now() + 120_000;
      while (!/serving; press Ctrl-C/.test(out) && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 200));
      assert.match(out, /^demo: ok$/m, out);
      const relayUrl = /relay\s+(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out)?.[1];
      assert.ok(relayUrl, out);
      assert.equal((await fetch(`${relayUrl}health`)).status, 200);
      // Ctrl-C: the terminal signals the foreground group (npm, its shell, the launcher)
      process.kill(-child.pid!, "SIGINT");
      const { code, signal } = await exited;
      // npm itself may end by the signal; the launcher reports a clean stop of every role
      assert.ok(code === 0 || signal === "SIGINT", `npm exit ${code} ${signal}`);
      for (let i = 0; i < 50 && !/^stopped$/m.test(out); i++) await new Promise((r) => setTimeout(r, 100));
      assert.match(out, /^stopped$/m, out);
      await assert.rejects(fetch(`${relayUrl}health`), "the relay process is gone");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
