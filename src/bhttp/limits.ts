// Decoder limits (RFC 9292 s8: "implementations need to be aware of the possibility of resource
// exhaustion attacks"). Every length read from the wire is checked against these before any
// bytes are read or copied, so a hostile length prefix costs nothing.

export interface BhttpLimits {
  /** Field lines in any one field section (header, trailer or informational header section). */
  maxFieldLines: number;
  /** Encoded bytes of all field lines of a message together (name and value with their length prefixes). */
  maxFieldBytes: number;
  /** Content bytes (sum of all chunks for the indeterminate-length form). */
  maxContentBytes: number;
  /** Bytes in each of method, scheme, authority and path. */
  maxControlDataLength: number;
  /** Informational (1xx) responses before the final response. */
  maxInformationalResponses: number;
}

export const DEFAULT_LIMITS: Readonly<BhttpLimits> = Object.freeze({
  maxFieldLines: 256,
  maxFieldBytes: 64 * 1024,
  maxContentBytes: 8 * 1024 * 1024,
  maxControlDataLength: 8 * 1024,
  maxInformationalResponses: 16,
});

/** Fills unset entries from DEFAULT_LIMITS; a set entry must be a non-negative safe integer. */
export function resolveLimits(limits?: Partial<BhttpLimits>): Readonly<BhttpLimits> {
  if (limits === undefined) return DEFAULT_LIMITS;
  const out = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(DEFAULT_LIMITS) as (keyof BhttpLimits)[]) {
    const v = limits[key];
    if (v === undefined) continue;
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`BhttpLimits.${key} must be a non-negative integer`);
    out[key] = v;
  }
  return out;
}
