// The user_auth_key leaf-node extension (EXTENSION_TYPE_USER_AUTH_KEY, private-use 0xF0A3):
//
//   struct {
//     opaque salt<V>;            // 16 bytes
//     opaque user_auth_key<V>;   // Ed25519 public key, 32 bytes
//   } UserAuthKeyBinding;
//
// A KeyPackage's leaf carries the per-group user key its owner derived for it (client side:
// src/client/userAuthKey.ts). The adder copies the key into add_users; the DS refuses a key that
// is not the one the added user's own leaf declares, so nobody can enrol a user under a key the
// user does not hold.
import { EXTENSION_TYPE_USER_AUTH_KEY, USER_AUTH_KEY_SALT_LENGTH } from "./constants.js";
import { decodeExact, TlsWriter } from "./tls.js";

export interface UserAuthKeyBinding {
  readonly salt: Uint8Array;
  readonly publicKey: Uint8Array;
}

export function encodeUserAuthKeyBinding(b: UserAuthKeyBinding): Uint8Array {
  if (b.salt.length !== USER_AUTH_KEY_SALT_LENGTH || b.publicKey.length !== 32) throw new RangeError("a user_auth_key binding is a 16-byte salt and a 32-byte key");
  return new TlsWriter(64).opaque(b.salt).opaque(b.publicKey).finish();
}

export function decodeUserAuthKeyBinding(bytes: Uint8Array): UserAuthKeyBinding {
  return decodeExact(bytes, "user_auth_key", (r) => {
    const salt = r.opaque("salt", USER_AUTH_KEY_SALT_LENGTH);
    const publicKey = r.opaque("user_auth_key", 32);
    if (salt.length !== USER_AUTH_KEY_SALT_LENGTH || publicKey.length !== 32) throw new RangeError("a user_auth_key binding is a 16-byte salt and a 32-byte key");
    return { salt, publicKey };
  });
}

/**
 * The binding among a leaf's extensions: undefined when there is none; "malformed" when there
 * are several or it does not decode.
 */
export function findUserAuthKeyBinding(extensions: readonly { extensionType: unknown; extensionData: Uint8Array }[]): UserAuthKeyBinding | "malformed" | undefined {
  const found = extensions.filter((e) => e.extensionType === EXTENSION_TYPE_USER_AUTH_KEY);
  if (found.length === 0) return undefined;
  if (found.length > 1) return "malformed";
  try {
    return decodeUserAuthKeyBinding(found[0]!.extensionData);
  } catch {
    return "malformed";
  }
}
