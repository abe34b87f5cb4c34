// `mimi-ds provider`: the provider process (DS, QS and KeyPackage directory behind the gateway).
import { type CommandSpec, flag, helpText, intFlag, parseFlags, parseListen, requiredFlag, UsageError } from "../cli/flags.js";
import { createLogger, type LogLevel } from "../util/log.js";
import { createProvider } from "./Provider.js";

export const providerSpec: CommandSpec = {
  usage: "mimi-ds provider --listen HOST:PORT --domain DOMAIN --data-dir DIR [flags]",
  summary:
    "Runs the provider: the origin behind the OHTTP gateway. Bind it to loopback or a private interface;\n" +
    "clients reach it only through relay and gateway.",
  flags: [
    { name: "listen", env: "MIMI_PROVIDER_LISTEN", description: "address to listen on (loopback or private)", default: "127.0.0.1:8443" },
    { name: "federation-listen", env: "MIMI_PROVIDER_FEDERATION_LISTEN", description: "address of a listener that serves only /deliver_message and /verification_key, for federated providers; unset: they use the main listener" },
    { name: "admin-listen", env: "MIMI_PROVIDER_ADMIN_LISTEN", description: "address of the admin API (client registration, bearer tokens); loopback or private only; unset: no admin API" },
    { name: "domain", env: "MIMI_PROVIDER_DOMAIN", description: "this provider's MIMI domain", default: "a.test" },
    { name: "public-url", env: "MIMI_PROVIDER_PUBLIC_URL", description: "the provider origin as clients name it through the gateway (URLs in /.well-known/mimi-protocol-directory); default: the listen URL" },
    { name: "data-dir", env: "MIMI_DATA_DIR", description: "directory of the embedded LevelDB store", default: "./data/provider" },
    { name: "max-body", env: "MIMI_PROVIDER_MAX_BODY", description: "largest request body, in bytes", default: String(1 << 20) },
    { name: "federate", env: "MIMI_FEDERATION", description: "a federated provider as DOMAIN=BASE_URL (its /deliver_message and /verification_key); env: comma-separated", repeatable: true },
    { name: "inactive-client-days", env: "MIMI_INACTIVE_CLIENT_DAYS", description: "propose removing members whose keys are older than this many days (0: never)", default: "0" },
    {
      name: "fanout-max-age",
      env: "MIMI_FANOUT_MAX_AGE_S",
      description: "seconds the outbox retries a fanout to an unreachable federated QS before giving it up (logged and counted); keep it below the peers' 1 h fanout age limit",
      default: "3000",
    },
    { name: "fanout-max-backoff", env: "MIMI_FANOUT_MAX_BACKOFF_MS", description: "longest delay between two retries of an outbox fanout, in ms (exponential from 500 ms, with jitter)", default: "60000" },
    { name: "group-ttl-days", env: "MIMI_GROUP_TTL_DAYS", description: "days an unused group is kept before it is deleted", default: "90" },
    { name: "log-level", env: "MIMI_LOG_LEVEL", description: "debug, info, warn or error", default: "info" },
  ],
};

export async function main(argv: string[]): Promise<number | void> {
  if (argv.includes("--help")) {
    process.stdout.write(helpText(providerSpec) + "\n");
    return 0;
  }
  const f = parseFlags(providerSpec, argv);
  const { host, port } = parseListen(flag(f, "listen")!);
  const domain = requiredFlag(f, "domain");
  if (!/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/i.test(domain)) throw new UsageError(`--domain is not a domain name: ${domain}`);
  const logger = createLogger("provider", { level: flag(f, "log-level") as LogLevel });
  const federation = new Map<string, string>();
  for (const entry of f["federate"] ?? []) {
    const m = /^([a-z0-9.-]+)=(https?:\/\/\S+)$/i.exec(entry);
    if (!m) throw new UsageError(`--federate must be DOMAIN=URL, got ${JSON.stringify(entry)}`);
    federation.set(m[1]!.toLowerCase(), m[2]!.replace(/\/+$/, ""));
  }
  const maxAgeS = intFlag(f, "fanout-max-age")!;
  const maxBackoffMs = intFlag(f, "fanout-max-backoff")!;
  if (maxAgeS < 1) throw new UsageError("--fanout-max-age must be at least 1 second");
  if (maxBackoffMs < 500) throw new UsageError("--fanout-max-backoff must be at least 500 ms");
  const server = await createProvider({ domain, dataDir: requiredFlag(f, "data-dir"), maxBodyBytes: intFlag(f, "max-body"), groupTtlDays: intFlag(f, "group-ttl-days"), inactiveClientDays: intFlag(f, "inactive-client-days"), federation, fanoutOutbox: { maxAgeMs: maxAgeS * 1000, maxBackoffMs }, publicUrl: flag(f, "public-url"), logger });
  const addr = await server.listen(host, port);
  logger.info("listening", { url: addr.url });
  const adminAt = flag(f, "admin-listen");
  if (adminAt) {
    const a = parseListen(adminAt);
    const adminAddr = await server.listenAdmin(a.host, a.port);
    logger.info("admin_listening", { url: adminAddr.url });
    process.stdout.write(`provider admin on ${adminAddr.url}\n`);
  }
  const federationAt = flag(f, "federation-listen");
  if (federationAt) {
    const fl = parseListen(federationAt);
    const fedAddr = await server.listenFederation(fl.host, fl.port);
    logger.info("federation_listening", { url: fedAddr.url });
    process.stdout.write(`provider federation on ${fedAddr.url}\n`);
  }
  process.stdout.write(`provider listening on ${addr.url}\n`);
  const stop = () => {
    logger.info("stopping");
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}
