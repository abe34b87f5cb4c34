// `mimi-ds start`: relay, gateway and provider as separate processes on loopback, a demo run
// once through the relay, then serving until SIGINT/SIGTERM, which stops every child cleanly.
// With --federation: two such stacks (a.test and b.test by default) whose providers federate
// (--federate each other), and the federated demo across them.
import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { createServer } from "node:net";
import { runDemo, runFederatedDemo } from "../demo/demo.js";
import { boolFlag, type CommandSpec, flag, helpText, intFlag, parseFlags, requiredFlag, UsageError } from "./flags.js";
import { type RoleProcess, startRole } from "./processes.js";

export const startSpec: CommandSpec = {
  usage: "mimi-ds start [--data-dir DIR] [--host 127.0.0.1] [--relay-port 8080] [--gateway-port 8081] [--provider-port 8443] [--federation]",
  summary:
    "Starts relay, gateway and provider as separate processes with an embedded LevelDB store under the data\n" +
    "directory, runs the demo through the relay once, prints the transcript, `demo: ok` and the endpoints, and\n" +
    "serves until Ctrl-C. Child logs (JSON lines) go to DIR/logs/. Port 0 picks free ports.\n" +
    "--federation starts a second stack for --peer-domain on the same ports + 10 (port 0: free ports), lets the\n" +
    "two providers federate, and runs the federated demo: a group at the first provider's DS with members whose\n" +
    "queues live at the second provider's QS.",
  flags: [
    { name: "data-dir", env: "MIMI_DATA_DIR", description: "where keys, stores and logs live", default: "./data" },
    { name: "host", env: "MIMI_HOST", description: "loopback or private address every role binds to", default: "127.0.0.1" },
    { name: "relay-port", env: "MIMI_RELAY_PORT", description: "relay port", default: "8080" },
    { name: "gateway-port", env: "MIMI_GATEWAY_PORT", description: "gateway port", default: "8081" },
    { name: "provider-port", env: "MIMI_PROVIDER_PORT", description: "provider port", default: "8443" },
    { name: "domain", env: "MIMI_PROVIDER_DOMAIN", description: "the provider's domain", default: "a.test" },
    { name: "federation", env: "MIMI_FEDERATION_DEMO", description: "start two federated providers (each with relay and gateway) and run the federated demo", boolean: true },
    { name: "peer-domain", env: "MIMI_PEER_DOMAIN", description: "the second provider's domain (with --federation)", default: "b.test" },
    { name: "no-demo", env: "MIMI_NO_DEMO", description: "skip the demo", boolean: true },
    { name: "exit-after-demo", env: "MIMI_EXIT_AFTER_DEMO", description: "stop everything after the demo (exit 0 iff it succeeded)", boolean: true },
  ],
};

function hostPort(host: string, port: string | number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * A free port on `host` (bind port 0, release it). Federated providers must know each other's
 * URL before either starts, so their ports are fixed up front.
 */
async function freePort(host: string): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, host, () => {
      const a = s.address();
      s.close(() => (a && typeof a === "object" ? resolvePort(a.port) : reject(new Error("no free port"))));
    });
  });
}

interface Stack {
  domain: string;
  provider: RoleProcess;
  gateway: RoleProcess;
  relay: RoleProcess;
  gatewayResource: string;
}

interface StackPorts {
  relay: number;
  gateway: number;
  provider: number;
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
  const federated = boolFlag(f, "federation");
  const peerDomain = flag(f, "peer-domain")!;
  if (federated && peerDomain === domain) throw new UsageError("--peer-domain must differ from --domain");
  const ports: StackPorts = { relay: intFlag(f, "relay-port")!, gateway: intFlag(f, "gateway-port")!, provider: intFlag(f, "provider-port")! };
  const logs = join(dataDir, "logs");
  await mkdir(logs, { recursive: true, mode: 0o700 });
  const children: RoleProcess[] = [];
  let stopping = false;
  const stopAll = async () => {
    stopping = true;
    // Front to back, so no new request reaches a role that is already gone.
    for (const c of [...children].reverse()) await c.stop("SIGTERM");
  };
  /** One provider with its gateway and relay; log files carry the domain only in federation mode. */
  const startStack = async (d: string, p: StackPorts, federate: string[]): Promise<Stack> => {
    const logName = (role: string) => join(logs, federated ? `${role}-${d}.log` : `${role}.log`);
    const providerArgs = ["provider", "--listen", hostPort(host, p.provider), "--domain", d, "--data-dir", join(dataDir, d, "store"), ...federate.flatMap((x) => ["--federate", x])];
    const provider = await startRole("provider", providerArgs, { logFile: logName("provider") });
    children.push(provider);
    const gateway = await startRole("gateway", ["gateway", "--listen", hostPort(host, p.gateway), "--target", provider.url, "--key-dir", join(dataDir, d, "gateway-keys")], { logFile: logName("gateway") });
    children.push(gateway);
    const gatewayResource = `${gateway.url}/.well-known/ohttp-gateway`;
    const relay = await startRole("relay", ["relay", "--listen", hostPort(host, p.relay), "--gateway", gatewayResource], { logFile: logName("relay") });
    children.push(relay);
    return { domain: d, provider, gateway, relay, gatewayResource };
  };
  try {
    const stacks: Stack[] = [];
    if (!federated) {
      stacks.push(await startStack(domain, ports, []));
    } else {
      const peer: StackPorts = { relay: ports.relay && ports.relay + 10, gateway: ports.gateway && ports.gateway + 10, provider: ports.provider && ports.provider + 10 };
      const pa = ports.provider || (await freePort(host));
      const pb = peer.provider || (await freePort(host));
      const urlOf = (port: number) => `http://${hostPort(host, port)}`;
      stacks.push(await startStack(domain, { ...ports, provider: pa }, [`${peerDomain}=${urlOf(pb)}`]));
      stacks.push(await startStack(peerDomain, { ...peer, provider: pb }, [`${domain}=${urlOf(pa)}`]));
    }
    for (const c of children) {
      c.exited.then((code) => {
        if (stopping) return;
        process.stderr.write(`mimi-ds start: ${c.name} exited unexpectedly (code ${code}); stopping\n`);
        stopAll().then(() => process.exit(1));
      });
    }
    const target = (s: Stack) => ({ relayUrl: `${s.relay.url}/`, gatewayKeysUrl: s.gatewayResource, providerOrigin: s.provider.url, domain: s.domain });
    let ok = true;
    if (!boolFlag(f, "no-demo")) {
      process.stdout.write(federated ? "federated demo transcript:\n" : "demo transcript:\n");
      const print = (l: string) => process.stdout.write(`  ${l}\n`);
      const r = federated ? await runFederatedDemo({ a: target(stacks[0]!), b: target(stacks[1]!) }, print) : await runDemo(target(stacks[0]!), print);
      ok = r.ok;
      process.stdout.write(ok ? "demo: ok\n" : "demo: FAILED\n");
    }
    const lines = ["endpoints:"];
    for (const s of stacks) {
      if (federated) lines.push(`  ${s.domain}:`);
      const ind = federated ? "    " : "  ";
      lines.push(
        `${ind}relay     ${s.relay.url}/  (POST message/ohttp-req)`,
        `${ind}gateway   ${s.gatewayResource}  (GET: key configuration; POST: gateway resource)`,
        `${ind}provider  ${s.provider.url}  (behind the gateway only${federated ? "; /deliver_message and /verification_key for the peer" : ""})`,
      );
    }
    lines.push(`  logs      ${logs}`, "");
    process.stdout.write(lines.join("\n"));
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
