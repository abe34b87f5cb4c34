// `mimi-ds relay`: runs the relay resource until SIGINT/SIGTERM, then drains and exits 0.
import { helpText, intFlag, parseFlags, parseListen, requiredFlag, flag, UsageError } from "../src/cli/flags.js";
import type { CommandSpec } from "../src/cli/flags.js";
import { createLogger } from "../src/util/log.js";
import type { LogLevel } from "../src/util/log.js";
import { InvalidGatewayUrlError } from "./errors.js";
import { GatewayClient } from "./GatewayClient.js";
import { RelayServer } from "./RelayServer.js";
import type { ListenAddress } from "./RelayServer.js";

export const relaySpec: CommandSpec = {
  usage: "mimi-ds relay --gateway URL [flags]",
  summary:
    "Run the Oblivious HTTP relay resource (RFC 9458): accepts POST / with message/ohttp-req or " +
    "message/ohttp-chunked-req and forwards only the body and its media type to one fixed gateway.",
  flags: [
    { name: "listen", env: "MIMI_RELAY_LISTEN", description: "address to listen on, HOST:PORT (port 0 = ephemeral)", default: "127.0.0.1:8080" },
    { name: "gateway", env: "MIMI_RELAY_GATEWAY", description: "required: the gateway resource URL (http or https); every request goes there" },
    { name: "max-body", env: "MIMI_RELAY_MAX_BODY", description: "request body limit in bytes", default: String(1024 * 1024) },
    {
      name: "max-response",
      env: "MIMI_RELAY_MAX_RESPONSE",
      description: "gateway response body limit in bytes (then 502); default twice --max-body",
    },
    { name: "upstream-timeout", env: "MIMI_RELAY_UPSTREAM_TIMEOUT_MS", description: "gateway timeout in milliseconds (then 504)", default: "10000" },
    { name: "max-in-flight", env: "MIMI_RELAY_MAX_IN_FLIGHT", description: "concurrent relay requests before 503", default: "512" },
    {
      name: "metrics-listen",
      env: "MIMI_RELAY_METRICS_LISTEN",
      description: "serve /metrics on this separate HOST:PORT instead of the relay listener",
    },
    { name: "log-level", env: "MIMI_LOG_LEVEL", description: "debug | info | warn | error", default: "info" },
  ],
};

const LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

export async function main(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(helpText(relaySpec) + "\n");
    return 0;
  }
  const p = parseFlags(relaySpec, argv);
  const listen = parseListen(requiredFlag(p, "listen"));
  const metricsListenFlag = flag(p, "metrics-listen");
  const metricsListen = metricsListenFlag === undefined ? undefined : parseListen(metricsListenFlag);
  let gatewayUrl: URL;
  try {
    gatewayUrl = GatewayClient.parseUrl(requiredFlag(p, "gateway"));
  } catch (e) {
    if (e instanceof InvalidGatewayUrlError) throw new UsageError(`--gateway: ${e.message}`);
    throw e;
  }
  const maxBodyBytes = intFlag(p, "max-body")!;
  const upstreamTimeoutMs = intFlag(p, "upstream-timeout")!;
  const maxResponseBytes = intFlag(p, "max-response") ?? 2 * maxBodyBytes;
  const maxInFlight = intFlag(p, "max-in-flight")!;
  if (maxInFlight < 1) throw new UsageError("--max-in-flight must be at least 1");
  if (maxBodyBytes < 1) throw new UsageError("--max-body must be at least 1");
  if (maxResponseBytes < 1) throw new UsageError("--max-response must be at least 1");
  if (upstreamTimeoutMs < 1) throw new UsageError("--upstream-timeout must be at least 1");
  const level = requiredFlag(p, "log-level") as LogLevel;
  if (!LEVELS.includes(level)) throw new UsageError(`--log-level must be one of ${LEVELS.join(", ")}`);
  const logger = createLogger("relay", { level });

  const relay = new RelayServer({
    gatewayUrl,
    maxBodyBytes,
    maxResponseBytes,
    maxInFlight,
    upstreamTimeoutMs,
    logger,
    serveMetrics: metricsListen === undefined,
  });
  let addr: ListenAddress;
  try {
    addr = await relay.listen(listen.host, listen.port);
    // The relay's own address is not client data; the gateway URL is deliberately not logged.
    logger.info("listening", { url: addr.url });
    if (metricsListen) {
      const m = await relay.listenMetrics(metricsListen.host, metricsListen.port);
      logger.info("metrics_listening", { url: m.url });
    }
  } catch (e) {
    // e.g. EADDRINUSE: report the errno code, not a stack.
    const code = (e as { code?: unknown }).code;
    logger.error("listen_failed", { code: typeof code === "string" ? code : "unknown" });
    await relay.close();
    return 1;
  }
  process.stdout.write(`relay listening on ${addr.url}\n`);

  // The first signal drains; the handlers are then removed, so a second one kills at once.
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  logger.info("shutting_down");
  await relay.close();
  logger.info("stopped");
  return 0;
}
