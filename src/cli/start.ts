// `mimi-ds start`: relay, gateway and provider as separate processes on loopback, a demo run
// once through the relay, then serving until SIGINT/SIGTERM, which stops every child cleanly.
import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { runDemo } from "../demo/demo.js";
import { boolFlag, type CommandSpec, flag, helpText, parseFlags, requiredFlag } from "./flags.js";
import { type RoleProcess, startRole } from "./processes.js";

export const startSpec: CommandSpec = {
  usage: "mimi-ds start [--data-dir DIR] [--host 127.0.0.1] [--relay-port 8080] [--gateway-port 8081] [--provider-port 8443]",
  summary:
    "Starts relay, gateway and provider as separate processes with an embedded LevelDB store under the data\n" +
    "directory, runs the demo through the relay once, prints the transcript, `demo: ok` and the endpoints, and\n" +
    "serves until Ctrl-C. Child logs (JSON lines) go to DIR/logs/. Port 0 picks free ports.",
  flags: [
    { name: "data-dir", env: "MIMI_DATA_DIR", description: "where keys, stores and logs live", default: "./data" },
    { name: "host", env: "MIMI_HOST", description: "loopback or private address every role binds to", default: "127.0.0.1" },
    { name: "relay-port", env: "MIMI_RELAY_PORT", description: "relay port", default: "8080" },
    { name: "gateway-port", env: "MIMI_GATEWAY_PORT", description: "gateway port", default: "8081" },
    { name: "provider-port", env: "MIMI_PROVIDER_PORT", description: "provider port", default: "8443" },
    { name: "domain", env: "MIMI_PROVIDER_DOMAIN", description: "the provider's domain", default: "a.test" },
    { name: "no-demo", env: "MIMI_NO_DEMO", description: "skip the demo", boolean: true },
    { name: "exit-after-demo", env: "MIMI_EXIT_AFTER_DEMO", description: "stop everything after the demo (exit 0 iff it succeeded)", boolean: true },
  ],
};

function hostPort(host: string, port: string): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

export async function main(argv: string[]): Promise<number | void> {
  if (argv.includes("--help")) {
    process.stdout.write(helpText(startSpec) + "\n");
    return 0;
  }
  const f = parseFlags(startSpec, argv);
  const dataDir = resolve(requiredFlag(f, "data-dir"));
  const host = flag(f, "host")!;
  const domain = flag(f, "domain")!;
  const logs = join(dataDir, "logs");
  await mkdir(logs, { recursive: true, mode: 0o700 });
  const children: RoleProcess[] = [];
  let stopping = false;
  const stopAll = async () => {
    stopping = true;
    // Front to back, so no new request reaches a role that is already gone.
    for (const c of [...children].reverse()) await c.stop("SIGTERM");
  };
  try {
    const provider = await startRole("provider", ["provider", "--listen", hostPort(host, flag(f, "provider-port")!), "--domain", domain, "--data-dir", join(dataDir, domain, "store")], { logFile: join(logs, "provider.log") });
    children.push(provider);
    const gateway = await startRole("gateway", ["gateway", "--listen", hostPort(host, flag(f, "gateway-port")!), "--target", provider.url, "--key-dir", join(dataDir, domain, "gateway-keys")], { logFile: join(logs, "gateway.log") });
    children.push(gateway);
    const gatewayResource = `${gateway.url}/.well-known/ohttp-gateway`;
    const relay = await startRole("relay", ["relay", "--listen", hostPort(host, flag(f, "relay-port")!), "--gateway", gatewayResource], { logFile: join(logs, "relay.log") });
    children.push(relay);
    for (const c of children) {
      c.exited.then((code) => {
        if (stopping) return;
        process.stderr.write(`mimi-ds start: ${c.name} exited unexpectedly (code ${code}); stopping\n`);
        stopAll().then(() => process.exit(1));
      });
    }
    let ok = true;
    if (!boolFlag(f, "no-demo")) {
      process.stdout.write("demo transcript:\n");
      const r = await runDemo({ relayUrl: `${relay.url}/`, gatewayKeysUrl: gatewayResource, providerOrigin: provider.url }, (l) => process.stdout.write(`  ${l}\n`));
      ok = r.ok;
      process.stdout.write(ok ? "demo: ok\n" : "demo: FAILED\n");
    }
    process.stdout.write(
      [
        "endpoints:",
        `  relay     ${relay.url}/  (POST message/ohttp-req)`,
        `  gateway   ${gatewayResource}  (GET: key configuration; POST: gateway resource)`,
        `  provider  ${provider.url}  (behind the gateway only)`,
        `  logs      ${logs}`,
        "",
      ].join("\n"),
    );
    if (boolFlag(f, "exit-after-demo")) {
      await stopAll();
      return ok ? 0 : 1;
    }
    process.stdout.write("serving; press Ctrl-C to stop\n");
    await new Promise<void>((resolveStop) => {
      const onSignal = () => resolveStop();
      process.once("SIGINT", onSignal);
      process.once("SIGTERM", onSignal);
    });
    await stopAll();
    process.stdout.write("stopped\n");
    return 0;
  } catch (e) {
    await stopAll();
    process.stderr.write(`mimi-ds start: ${(e as Error).message}\n`);
    return 1;
  }
}
