// `mimi-ds gateway` (run the gateway) and `mimi-ds gateway keys rotate|list` (manage keys).
import { type CommandSpec, flag, helpText, intFlag, parseFlags, parseListen, requiredFlag, UsageError } from "../src/cli/flags.js";
import { createLogger, type LogLevel } from "../src/util/log.js";
import { GatewayServer } from "./GatewayServer.js";
import { DEFAULT_RETENTION_SECONDS, listKeys, rotateKeys } from "./KeyDirectory.js";

export const gatewaySpec: CommandSpec = {
  usage: "mimi-ds gateway --listen HOST:PORT --target ORIGIN [--target ORIGIN ...] --key-dir DIR [flags]",
  summary:
    "Runs the Oblivious HTTP gateway (RFC 9458, RFC 9540 discovery at /.well-known/ohttp-gateway).\n" +
    "It decapsulates requests, forwards them to allow-listed target origins and encapsulates the responses.\n" +
    "Key management: `mimi-ds gateway keys rotate --key-dir DIR` and `mimi-ds gateway keys list --key-dir DIR`.",
  flags: [
    { name: "listen", env: "MIMI_GATEWAY_LISTEN", description: "address to listen on", default: "127.0.0.1:8081" },
    { name: "target", env: "MIMI_GATEWAY_TARGETS", description: "allowed target origin, e.g. http://127.0.0.1:8443 (env: comma-separated)", repeatable: true },
    { name: "key-dir", env: "MIMI_GATEWAY_KEY_DIR", description: "directory holding the gateway's OHTTP keys (created with a first key if empty)" },
    { name: "max-body", env: "MIMI_GATEWAY_MAX_BODY", description: "largest encapsulated request accepted, in bytes", default: String(1 << 20) },
    { name: "target-timeout", env: "MIMI_GATEWAY_TARGET_TIMEOUT_MS", description: "timeout for the target's response, in ms", default: "10000" },
    { name: "replay-capacity", env: "MIMI_GATEWAY_REPLAY_CAPACITY", description: "requests remembered per key and generation for replay defence", default: String(1 << 18) },
    { name: "key-reload-interval", env: "MIMI_GATEWAY_KEY_RELOAD_MS", description: "how often to look for rotated keys, in ms", default: "2000" },
    { name: "log-level", env: "MIMI_LOG_LEVEL", description: "debug, info, warn or error", default: "info" },
  ],
};

export const keysSpec: CommandSpec = {
  usage: "mimi-ds gateway keys <rotate|list> --key-dir DIR [--retention SECONDS]",
  summary:
    "rotate: adds a new active key; the previous one is no longer published but stays accepted for the retention window.\n" +
    "list: prints the keys and their states as JSON lines (never the private keys).\n" +
    "A running gateway notices a rotation within --key-reload-interval.",
  flags: [
    { name: "key-dir", env: "MIMI_GATEWAY_KEY_DIR", description: "the gateway's key directory" },
    { name: "retention", env: "MIMI_GATEWAY_KEY_RETENTION_S", description: "seconds a replaced key stays accepted", default: String(DEFAULT_RETENTION_SECONDS) },
  ],
};

async function keysMain(argv: string[]): Promise<number> {
  const [action, ...rest] = argv;
  if (!action || action === "--help") {
    process.stdout.write(helpText(keysSpec) + "\n");
    return action ? 0 : 2;
  }
  if (rest.includes("--help")) {
    process.stdout.write(helpText(keysSpec) + "\n");
    return 0;
  }
  const f = parseFlags(keysSpec, rest);
  const dir = requiredFlag(f, "key-dir");
  if (action === "rotate") {
    const r = await rotateKeys(dir, { retentionSeconds: intFlag(f, "retention") });
    process.stdout.write(JSON.stringify({ event: "rotated", active_key_id: r.keyId, retiring_key_ids: r.retiring }) + "\n");
    return 0;
  }
  if (action === "list") {
    for (const k of await listKeys(dir)) {
      process.stdout.write(JSON.stringify({ key_id: k.keyId, state: k.state, created_at: k.createdAt, retire_at: k.retireAt ?? null }) + "\n");
    }
    return 0;
  }
  throw new UsageError(`unknown keys action ${JSON.stringify(action)} (rotate or list)`);
}

export async function main(argv: string[]): Promise<number | void> {
  if (argv[0] === "keys") return keysMain(argv.slice(1));
  if (argv.includes("--help")) {
    process.stdout.write(helpText(gatewaySpec) + "\n");
    return 0;
  }
  const f = parseFlags(gatewaySpec, argv);
  const { host, port } = parseListen(flag(f, "listen")!);
  const targets = f["target"] ?? [];
  if (targets.length === 0) throw new UsageError("at least one --target origin is required");
  const logger = createLogger("gateway", { level: flag(f, "log-level") as LogLevel });
  let gw: GatewayServer;
  try {
    gw = new GatewayServer({
      keyDir: requiredFlag(f, "key-dir"),
      targets,
      maxBodyBytes: intFlag(f, "max-body"),
      targetTimeoutMs: intFlag(f, "target-timeout"),
      replayCapacity: intFlag(f, "replay-capacity"),
      keyReloadIntervalMs: intFlag(f, "key-reload-interval"),
      logger,
    });
  } catch (e) {
    if (e instanceof TypeError) throw new UsageError(e.message);
    throw e;
  }
  const addr = await gw.listen(host, port);
  logger.info("listening", { url: addr.url, targets: targets.length });
  process.stdout.write(`gateway listening on ${addr.url}\n`);
  const stop = () => {
    logger.info("stopping");
    gw.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  process.on("SIGHUP", () => {
    // Rotation by another process is picked up on the reload timer; SIGHUP forces it now.
    gw.reload().catch(() => logger.error("key_reload_failed"));
  });
}
