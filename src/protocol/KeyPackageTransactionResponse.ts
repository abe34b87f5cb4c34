// The answer to a KeyPackageTransaction: per user and per client, with draft-barnes s7.3's
// status codes (KeyMaterialUserCode / KeyMaterialClientCode, names and values as there):
//     struct {
//       KeyMaterialClientCode client_status;          // uint8
//       opaque client_id<V>;
//       select (client_status) {
//         case success: MLSMessage key_package;        // wire_format = mls_key_package
//       };
//     } ClientKeyMaterial;
//     struct {
//       KeyMaterialUserCode user_status;              // uint8
//       opaque user_id<V>;                            // echoes the request's user_id
//       ClientKeyMaterial clients<V>;
//     } UserKeyMaterial;
//     struct {
//       KeyPackageStatus status;                      // uint16
//       select (status) { case ok: UserKeyMaterial users<V>; };   // users[i] answers requests[i]
//     } KeyPackageTransactionResponse;
// Differences from draft-barnes, each for a reason: the KeyPackage travels as an MLSMessage
// (RFC 9420 s6), so receivers check its version and decode it with the standard codec; the
// optional capabilities of a nothingCompatible client are never sent (barnes allows omitting
// them for privacy, so the field is dropped); a transaction-level status carries refusals of the
// whole transaction (malformed, too many requests, temporarily unavailable).
import { decodeMlsMessage, type KeyPackage, type MLSMessage } from "../mls/adapter.js";
import {
  KeyMaterialClientCode,
  KeyMaterialUserCode,
  KeyPackageStatus,
  MAX_CLIENT_ID_BYTES,
  MAX_TRANSACTION_REQUESTS,
  MAX_USER_ID_BYTES,
} from "./KeyPackageConstants.js";
import { isKeyPackageStatus } from "./KeyPackageErrors.js";
import { MalformedError } from "./errors.js";
import { decodeExact, TlsWriter, type TlsReader } from "./tls.js";

/** Maximum clients listed for one user (a provider caps clients per user far lower). */
export const MAX_CLIENTS_PER_USER_ON_WIRE = 1024;

export type ClientKeyMaterial =
  | {
      readonly status: KeyMaterialClientCode.success;
      readonly clientId: Uint8Array;
      /** the exact MLSMessage bytes as stored by the client */
      readonly keyPackage: Uint8Array;
    }
  | {
      readonly status: Exclude<KeyMaterialClientCode, KeyMaterialClientCode.success>;
      readonly clientId: Uint8Array;
    };

export interface UserKeyMaterial {
  readonly status: KeyMaterialUserCode;
  readonly userId: Uint8Array;
  readonly clients: readonly ClientKeyMaterial[];
}

const USER_CODES = new Set<number>(Object.values(KeyMaterialUserCode).filter((v): v is number => typeof v === "number"));
const CLIENT_CODES = new Set<number>(Object.values(KeyMaterialClientCode).filter((v): v is number => typeof v === "number"));
/** barnes s7.3: only these user codes may list clients. */
const LISTS_CLIENTS = new Set<number>([KeyMaterialUserCode.success, KeyMaterialUserCode.partialSuccess, KeyMaterialUserCode.noCompatibleMaterial]);

/** Decodes an MLSMessage that must carry a KeyPackage; returns the KeyPackage and exact bytes. */
export function readKeyPackageMessage(r: TlsReader, what: string): { value: KeyPackage; bytes: Uint8Array } {
  const m = r.mls<MLSMessage>(what, decodeMlsMessage);
  if (m.value.wireformat !== "mls_key_package") throw new MalformedError(`${what}: wire_format is not mls_key_package`);
  return { value: m.value.keyPackage, bytes: m.bytes };
}

function writeUser(w: TlsWriter, u: UserKeyMaterial): void {
  w.u8(u.status).opaque(u.userId);
  w.vector(u.clients, (cw, c) => {
    cw.u8(c.status).opaque(c.clientId);
    if (c.status === KeyMaterialClientCode.success) cw.raw(c.keyPackage);
  });
}

function readUser(r: TlsReader): UserKeyMaterial {
  const status = r.u8("user_status");
  if (!USER_CODES.has(status)) throw new MalformedError(`user_status: unknown value ${status}`);
  const userId = r.opaque("user_id", MAX_USER_ID_BYTES);
  const clients = r.vector(
    "clients",
    (cr): ClientKeyMaterial => {
      const cs = cr.u8("client_status");
      if (!CLIENT_CODES.has(cs)) throw new MalformedError(`client_status: unknown value ${cs}`);
      const clientId = cr.opaque("client_id", MAX_CLIENT_ID_BYTES);
      if (cs === KeyMaterialClientCode.success) {
        return { status: cs, clientId, keyPackage: new Uint8Array(readKeyPackageMessage(cr, "key_package").bytes) };
      }
      return { status: cs as Exclude<KeyMaterialClientCode, KeyMaterialClientCode.success>, clientId };
    },
    MAX_CLIENTS_PER_USER_ON_WIRE,
  );
  if (clients.length > 0 && !LISTS_CLIENTS.has(status)) throw new MalformedError(`clients: must be empty for user_status ${KeyMaterialUserCode[status]}`);
  return { status: status as KeyMaterialUserCode, userId, clients };
}

export class KeyPackageTransactionResponse {
  constructor(
    readonly status: KeyPackageStatus,
    /** empty unless status is ok */
    readonly users: readonly UserKeyMaterial[],
  ) {
    if (status !== KeyPackageStatus.ok && users.length > 0) throw new RangeError("an error response carries no users");
  }

  static error(status: Exclude<KeyPackageStatus, KeyPackageStatus.ok>): KeyPackageTransactionResponse {
    return new KeyPackageTransactionResponse(status, []);
  }

  serialize(): Uint8Array {
    const w = new TlsWriter().u16(this.status);
    if (this.status === KeyPackageStatus.ok) w.vector(this.users, writeUser);
    return w.finish();
  }

  static deserialize(bytes: Uint8Array): KeyPackageTransactionResponse {
    return decodeExact(bytes, "KeyPackageTransactionResponse", (r) => {
      const status = r.u16("status");
      if (!isKeyPackageStatus(status)) throw new MalformedError(`status: unknown value ${status}`);
      if (status !== KeyPackageStatus.ok) return new KeyPackageTransactionResponse(status, []);
      return new KeyPackageTransactionResponse(status, r.vector("users", readUser, MAX_TRANSACTION_REQUESTS));
    });
  }
}
