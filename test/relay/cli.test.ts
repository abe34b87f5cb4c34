// `mimi-ds relay` as a process: help, usage errors, start-up line, one request, clean SIGTERM.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { FakeGateway, send } from "./FakeGateway.js";

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 20 && !existsSync(join(dir, "package.json")); i++) dir = dirname(dir);
  return dir;
}

const ROOT = repoRoot();
// Under tsx (dev) run the TypeScript entry point; in the compiled suite run the built one.
const ENTRY = import.meta.url.endsWith(".ts")
  ? ["--import", "tsx", join(ROOT, "src/cli/main.ts")]
  : [join(ROOT, "dist/src/cli/main.js")];

// Only what the child needs; no MIMI_* from the parent leaks into flag defaults.
const BASE_ENV: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME };

function cli(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(process.execPath, [...ENTRY, "relay", ...args], { cwd: ROOT, env: { ...BASE_ENV, ...env }, stdio: "pipe" });
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function collect(child: ChildProcess, timeoutMs = 20_000): Promise<Exit> {
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`relay process did not exit within ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on("exit", (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

function waitForLine(child: ChildProcess, re: RegExp, timeoutMs = 20_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let buf = "";
    const t = setTimeout(() => reject(new Error(`no line matching ${re} within ${timeoutMs} ms: ${buf}`)), timeoutMs);
    const onData = (c: Buffer): void => {
      buf += c.toString();
      const m = re.exec(buf);
      if (m) {
        clearTimeout(t);
        child.stdout!.off("data", onData);
        resolve(m);
      }
    };
    child.stdout!.on("data", onData);
    child.on("exit", () => {
      clearTimeout(t);
      reject(new Error(`relay exited before printing ${re}: ${buf}`));
    });
  });
}

describe("mimi-ds relay (CLI)", () => {
  let gw: FakeGateway;
  before(async () => (gw = await FakeGateway.start()));
  after(() => gw.close());

  test("--help exits 0 and lists every flag with its environment variable", async () => {
    const r = await collect(cli(["--help"]));
    assert.equal(r.code, 0, r.stderr);
    for (const s of [
      "--listen",
      "MIMI_RELAY_LISTEN",
      "127.0.0.1:8080",
      "--gateway",
      "MIMI_RELAY_GATEWAY",
      "--max-body",
      "MIMI_RELAY_MAX_BODY",
      "--upstream-timeout",
      "--max-response",
      "MIMI_RELAY_MAX_RESPONSE",
      "MIMI_RELAY_UPSTREAM_TIMEOUT_MS",
      "--log-level",
      "MIMI_LOG_LEVEL",
    ]) {
      assert.ok(r.stdout.includes(s), `help lacks ${s}`);
    }
  });

  test("usage errors exit 2 (missing or non-http gateway, bad listen address); a busy port exits 1", async () => {
    const missing = await collect(cli(["--listen", "127.0.0.1:0"]));
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--gateway/);
    const ftp = await collect(cli(["--listen", "127.0.0.1:0"], { MIMI_RELAY_GATEWAY: "ftp://127.0.0.1/" }));
    assert.equal(ftp.code, 2);
    assert.match(ftp.stderr, /http or https/);
    const listen = await collect(cli(["--listen", "nope", "--gateway", gw.url()]));
    assert.equal(listen.code, 2);
    assert.match(listen.stderr, /HOST:PORT/);
    // A taken port is a runtime failure (exit 1), reported as an errno code, not a stack.
    const busy = await collect(cli(["--listen", `127.0.0.1:${gw.port}`, "--gateway", gw.url()]));
    assert.equal(busy.code, 1);
    assert.match(busy.stderr, /"event":"listen_failed","code":"EADDRINUSE"/);
    assert.ok(!busy.stderr.includes("    at "), busy.stderr);
  });

  test("starts, announces its address, relays one request, exits 0 on SIGTERM", async () => {
    const child = cli(["--listen", "127.0.0.1:0", "--gateway", gw.url("/ohttp"), "--log-level", "debug"]);
    const done = collect(child);
    const m = await waitForLine(child, /^relay listening on (http:\/\/127\.0\.0\.1:\d+)\n/m);
    const url = m[1]!;
    const body = Buffer.from("encapsulated-request");
    const res = await send(url, { headers: { "content-type": "message/ohttp-req", cookie: "c=1" }, body });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, body);
    assert.equal(gw.requests.length, 1);
    assert.equal(gw.requests[0]!.url, "/ohttp");
    assert.equal(gw.requests[0]!.headers.cookie, undefined);

    child.kill("SIGTERM");
    const r = await done;
    assert.equal(r.code, 0, r.stderr);
    const events = r.stderr
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { event: string; url?: string });
    assert.equal(events.find((e) => e.event === "listening")?.url, url);
    assert.ok(events.some((e) => e.event === "request"));
    assert.ok(events.some((e) => e.event === "stopped"));
    // The gateway's address is configuration, not something the relay repeats in its logs.
    assert.ok(!r.stderr.includes(gw.url()), r.stderr);
  });
});
