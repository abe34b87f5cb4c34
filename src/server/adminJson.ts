// The JSON helpers of the admin API (keyPackageEndpoints.ts, directoryEndpoints.ts): answers
// carry names of errors, never values.

export const json = (status: number, v: unknown) => ({ status, body: new TextEncoder().encode(JSON.stringify(v) + "\n"), contentType: "application/json" });

/** A JSON object body, or undefined for anything else (bad JSON, arrays, scalars). */
export function parseJsonObject(body: Uint8Array): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(new TextDecoder().decode(body)) as unknown;
    return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
