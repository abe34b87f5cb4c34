import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, it } from "node:test";
import type { CommandSpec } from "../../src/cli/flags.js";
import { parseFlags, parseListen, UsageError } from "../../src/cli/flags.js";
import { cliArgv, repoRoot } from "../helpers/repo.js";

const run = promisify(execFile);

async function specs(): Promise<Record<string, CommandSpec>> {
  const [relay, gateway, server, start, demo] = await Promise.all([
    import("../../relay/cli.js"),
    import("../../gateway/cli.js"),
    import("../../src/server/cli.js"),
    import("../../src/cli/start.js"),
    import("../../src/cli/demo.js"),
  ]);
  return {
    relay: relay.relaySpec,
    gateway: gateway.gatewaySpec,
    "gateway keys": gateway.keysSpec,
    provider: server.providerSpec,
    start: start.startSpec,
    demo: demo.demoSpec,
  };
}

describe("mimi-ds command line", () => {
  it("every subcommand prints --help with all its flags and their environment variables", async () => {
    for (const [name, spec] of Object.entries(await specs())) {
      const args = name === "gateway keys" ? ["gateway", "keys", "--help"] : [name, "--help"];
      const { stdout } = await run(process.execPath, [...cliArgv(), ...args]);
      for (const f of spec.flags) {
        assert.ok(stdout.includes(`--${f.name}`), `${name} --help lacks --${f.name}`);
        assert.ok(stdout.includes(f.env), `${name} --help lacks ${f.env}`);
      }
    }
  });

  it("the README documents every flag and environment variable", async () => {
    const readme = await readFile(join(repoRoot(), "README.md"), "utf8");
    for (const [name, spec] of Object.entries(await specs())) {
      for (const f of spec.flags) {
        assert.ok(readme.includes(`--${f.name}`), `README lacks ${name} --${f.name}`);
        assert.ok(readme.includes(f.env), `README lacks ${f.env}`);
      }
    }
  });

  it("unknown commands and flags exit 2 with a message", async () => {
    await assert.rejects(run(process.execPath, [...cliArgv(), "nonsense"]), (e: { code?: number }) => e.code === 2);
    await assert.rejects(run(process.execPath, [...cliArgv(), "relay", "--bogus", "1"]), (e: { code?: number; stderr?: string }) => e.code === 2 && /unknown flag/.test(e.stderr ?? ""));
  });

  it("flags win over environment variables, which win over defaults", () => {
    const spec: CommandSpec = { usage: "", summary: "", flags: [{ name: "listen", env: "X_LISTEN", description: "", default: "d:1" }, { name: "t", env: "X_T", description: "", repeatable: true }] };
    assert.equal(parseFlags(spec, [], {}).listen![0], "d:1");
    assert.equal(parseFlags(spec, [], { X_LISTEN: "e:2" }).listen![0], "e:2");
    assert.equal(parseFlags(spec, ["--listen", "f:3"], { X_LISTEN: "e:2" }).listen![0], "f:3");
    assert.deepEqual(parseFlags(spec, [], { X_T: "a, b" }).t, ["a", "b"]);
    assert.deepEqual(parseFlags(spec, ["--t=a", "--t", "b"], {}).t, ["a", "b"]);
    assert.throws(() => parseFlags(spec, ["--listen"], {}), UsageError);
  });

  it("parses listen addresses including IPv6 and rejects malformed ones", () => {
    assert.deepEqual(parseListen("127.0.0.1:0"), { host: "127.0.0.1", port: 0 });
    assert.deepEqual(parseListen("[::1]:8080"), { host: "::1", port: 8080 });
    for (const bad of ["", "host", ":80", "h:99999", "h:-1", "::1:80"]) assert.throws(() => parseListen(bad), UsageError, bad);
  });
});
