// Per-group pseudonymous user keys. The DS authenticates user-level requests (a user's new
// client joining by external commit, resync) by a user key whose hash it stores per group. One
// key for every group would let the DS link a user's groups, so a user holds one master secret
// and derives a fresh Ed25519 key per KeyPackage from a random salt; the KeyPackage's leaf
// carries (salt, public key) in the user_auth_key extension, which the adder copies into
// add_users and the DS checks against that leaf. Pure JS (noble), so it runs in browsers.
import { ed25519 } from "@noble/curves/ed25519.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import type { Extension } from "ts-mls";
import { EXTENSION_TYPE_USER_AUTH_KEY, USER_AUTH_KEY_DERIVATION_INFO, USER_AUTH_KEY_SALT_LENGTH } from "../protocol/constants.js";
import { encodeUserAuthKeyBinding, findUserAuthKeyBinding, type UserAuthKeyBinding } from "../protocol/UserAuthKeyExtension.js";
import type { UserAuthKey } from "./dsMember.js";

export const USER_MASTER_SECRET_LENGTH = 32;
export type { UserAuthKeyBinding };

/** The key pair for `salt`: seed = HKDF-SHA256(ikm = master, salt, info = "MIMI DS user auth key", 32). */
export function deriveUserAuthKey(masterSecret: Uint8Array, salt: Uint8Array): UserAuthKey {
  if (masterSecret.length !== USER_MASTER_SECRET_LENGTH) throw new RangeError(`the user master secret must be ${USER_MASTER_SECRET_LENGTH} bytes`);
  if (salt.length !== USER_AUTH_KEY_SALT_LENGTH) throw new RangeError(`the salt must be ${USER_AUTH_KEY_SALT_LENGTH} bytes`);
  const privateKey = hkdf(sha256, masterSecret, salt, new TextEncoder().encode(USER_AUTH_KEY_DERIVATION_INFO), 32);
  return { privateKey, publicKey: ed25519.getPublicKey(privateKey) };
}

export function userAuthKeyExtension(b: UserAuthKeyBinding): Extension {
  return { extensionType: EXTENSION_TYPE_USER_AUTH_KEY, extensionData: encodeUserAuthKeyBinding(b) };
}

/** The well-formed binding a leaf carries, or undefined. */
export function userAuthKeyOf(extensions: readonly { extensionType: unknown; extensionData: Uint8Array }[]): UserAuthKeyBinding | undefined {
  const b = findUserAuthKeyBinding(extensions);
  return b === "malformed" ? undefined : b;
}
