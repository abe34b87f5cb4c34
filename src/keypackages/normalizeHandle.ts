// Handles: the names users opt in to discovery with (draft-barnes s7.10 SearchIdentifierType
// handle). One normal form, so "Alice", " alice " and "ALICE" are one handle and cannot be
// registered to two users. The charset is checked BEFORE lower-casing and is ASCII only:
// toLowerCase maps some non-ASCII letters onto ASCII ones (U+212A KELVIN SIGN -> "k"), which
// would let a look-alike string reach someone else's handle.
import { InvalidHandleError } from "./errors.js";

export const MAX_HANDLE_LENGTH = 64;

/** Letters, digits, ".", "_" and "-"; starts and ends with a letter or digit. */
const HANDLE = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/;

/** The normal form of a handle (trimmed, lower-case); throws InvalidHandleError. */
export function normalizeHandle(handle: unknown): string {
  if (typeof handle !== "string") throw new InvalidHandleError("a handle must be a string");
  const t = handle.trim();
  if (t.length === 0 || t.length > MAX_HANDLE_LENGTH) throw new InvalidHandleError(`a handle has 1..${MAX_HANDLE_LENGTH} characters`);
  if (!HANDLE.test(t)) throw new InvalidHandleError("a handle uses only A-Z, a-z, 0-9, '.', '_' and '-', and starts and ends with a letter or digit");
  return t.toLowerCase();
}

/** true when normalizeHandle would accept `handle`. */
export function isValidHandle(handle: unknown): boolean {
  try {
    normalizeHandle(handle);
    return true;
  } catch {
    return false;
  }
}
