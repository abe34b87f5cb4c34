// `mimi-ds demo`: the demo against processes that are already running.
import { runDemo } from "../demo/demo.js";
import { type CommandSpec, helpText, parseFlags, requiredFlag } from "./flags.js";

export const demoSpec: CommandSpec = {
  usage: "mimi-ds demo --relay URL --gateway-keys URL --provider ORIGIN",
  summary: "Runs the demo conversation through an already running relay, gateway and provider; exit 0 iff every step succeeded.",
  flags: [
    { name: "relay", env: "MIMI_DEMO_RELAY", description: "relay resource URL", default: "http://127.0.0.1:8080/" },
    { name: "gateway-keys", env: "MIMI_DEMO_GATEWAY_KEYS", description: "gateway key configuration URL", default: "http://127.0.0.1:8081/.well-known/ohttp-gateway" },
    { name: "provider", env: "MIMI_DEMO_PROVIDER", description: "provider origin as the gateway allow-lists it", default: "http://127.0.0.1:8443" },
  ],
};

export async function main(argv: string[]): Promise<number> {
  if (argv.includes("--help")) {
    process.stdout.write(helpText(demoSpec) + "\n");
    return 0;
  }
  const f = parseFlags(demoSpec, argv);
  const r = await runDemo(
    { relayUrl: requiredFlag(f, "relay"), gatewayKeysUrl: requiredFlag(f, "gateway-keys"), providerOrigin: requiredFlag(f, "provider") },
    (l) => process.stdout.write(`  ${l}\n`),
  );
  process.stdout.write(r.ok ? "demo: ok\n" : "demo: FAILED\n");
  return r.ok ? 0 : 1;
}
