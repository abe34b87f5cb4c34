// JSON-lines logger. Callers pass only fixed event names and non-identifying fields
// (counts, sizes, durations, status codes): never IPs, bodies, keys or identifiers.
export type LogLevel = "debug" | "info" | "warn" | "error";
const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface Logger {
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
}

export function createLogger(
  component: string,
  opts: { level?: LogLevel; write?: (line: string) => void } = {},
): Logger {
  const min = order[opts.level ?? ((process.env.MIMI_LOG_LEVEL as LogLevel | undefined) ?? "info")] ?? 20;
  const write = opts.write ?? ((line: string) => process.stderr.write(line + "\n"));
  const emit = (level: LogLevel, event: string, fields?: LogFields) => {
    if (order[level] < min) return;
    write(JSON.stringify({ t: new Date().toISOString(), level, component, event, ...fields }));
  };
  return {
    debug: (e, f) => emit("debug", e, f),
    info: (e, f) => emit("info", e, f),
    warn: (e, f) => emit("warn", e, f),
    error: (e, f) => emit("error", e, f),
  };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
