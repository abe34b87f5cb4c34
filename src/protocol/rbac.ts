// The RBAC GroupContext extension (private-use 0xF0A1): struct { uint32 admins<V>; } (leaf
// indexes). Written by clients (create_group, set_role) and read by the DS.
import type { Extension } from "ts-mls";
import { EXTENSION_TYPE_RBAC } from "./constants.js";
import { TlsWriter } from "./tls.js";

export function rbacExtension(admins: readonly number[]): Extension {
  return { extensionType: EXTENSION_TYPE_RBAC, extensionData: new TlsWriter().vector(admins, (w, a) => w.u32(a)).finish() };
}
