// Prometheus metrics for every HTTP role. Labels are restricted to fixed, low-cardinality
// values (route name from a closed set, status class), never identifiers, paths or addresses.
import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export interface RoleMetrics {
  registry: Registry;
  requests: Counter<"route" | "status">;
  requestBytes: Histogram<"route">;
  responseBytes: Histogram<"route">;
  latency: Histogram<"route">;
  /** Records one finished request. `route` must come from a fixed set chosen by the caller. */
  observe(route: string, status: number, reqBytes: number, resBytes: number, seconds: number): void;
  render(): Promise<string>;
}

const SIZE_BUCKETS = [64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304];
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function createRoleMetrics(prefix: string, opts: { defaultMetrics?: boolean } = {}): RoleMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: `${prefix}_` });
  const requests = new Counter({
    name: `${prefix}_requests_total`,
    help: "Requests handled, by route and status code",
    labelNames: ["route", "status"] as const,
    registers: [registry],
  });
  const requestBytes = new Histogram({
    name: `${prefix}_request_bytes`,
    help: "Request body sizes in bytes",
    labelNames: ["route"] as const,
    buckets: SIZE_BUCKETS,
    registers: [registry],
  });
  const responseBytes = new Histogram({
    name: `${prefix}_response_bytes`,
    help: "Response body sizes in bytes",
    labelNames: ["route"] as const,
    buckets: SIZE_BUCKETS,
    registers: [registry],
  });
  const latency = new Histogram({
    name: `${prefix}_request_duration_seconds`,
    help: "Request handling time in seconds",
    labelNames: ["route"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  return {
    registry,
    requests,
    requestBytes,
    responseBytes,
    latency,
    observe(route, status, reqBytes, resBytes, seconds) {
      requests.inc({ route, status: String(status) });
      requestBytes.observe({ route }, reqBytes);
      responseBytes.observe({ route }, resBytes);
      latency.observe({ route }, seconds);
    },
    render: () => registry.metrics(),
  };
}
