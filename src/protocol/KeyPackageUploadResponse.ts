// The answer to a KeyPackageUpload (our profile):
//     struct {
//       uint32 group_available;        // unexpired single-use KeyPackages of this client
//       uint32 connection_available;
//       bool group_last_resort;        // an unexpired last-resort KeyPackage is stored
//       bool connection_last_resort;
//     } KeyPackageCounts;
//     struct {
//       KeyPackageStatus status;       // uint16
//       select (status) {
//         case ok: KeyPackageCounts counts;
//         default: uint32 entry_index; // offending entry, 0xFFFFFFFF when none
//       };
//     } KeyPackageUploadResponse;
// The counts let a client replenish before its pool runs dry; a refused upload changed nothing.
import { KeyPackageStatus, NO_ENTRY_INDEX } from "./KeyPackageConstants.js";
import { isKeyPackageStatus, keyPackageErrorFor, type KeyPackageError } from "./KeyPackageErrors.js";
import { readBool } from "./KeyPackageTransaction.js";
import { MalformedError } from "./errors.js";
import { decodeExact, TlsWriter } from "./tls.js";

export interface KeyPackageCounts {
  readonly group: number;
  readonly connection: number;
  readonly groupLastResort: boolean;
  readonly connectionLastResort: boolean;
}

export class KeyPackageUploadResponse {
  constructor(
    readonly status: KeyPackageStatus,
    readonly counts?: KeyPackageCounts,
    readonly entryIndex: number = NO_ENTRY_INDEX,
  ) {
    if ((status === KeyPackageStatus.ok) !== (counts !== undefined)) throw new RangeError("counts go with ok, and only with ok");
  }

  static ok(counts: KeyPackageCounts): KeyPackageUploadResponse {
    return new KeyPackageUploadResponse(KeyPackageStatus.ok, counts);
  }

  static error(e: KeyPackageError): KeyPackageUploadResponse {
    return new KeyPackageUploadResponse(e.code, undefined, e.entryIndex);
  }

  /** The typed error this response stands for, or undefined for ok. */
  toError(): KeyPackageError | undefined {
    return this.status === KeyPackageStatus.ok ? undefined : keyPackageErrorFor(this.status, this.entryIndex);
  }

  serialize(): Uint8Array {
    const w = new TlsWriter(16).u16(this.status);
    const c = this.counts;
    if (c !== undefined) w.u32(c.group).u32(c.connection).u8(c.groupLastResort ? 1 : 0).u8(c.connectionLastResort ? 1 : 0);
    else w.u32(this.entryIndex >>> 0);
    return w.finish();
  }

  static deserialize(bytes: Uint8Array): KeyPackageUploadResponse {
    return decodeExact(bytes, "KeyPackageUploadResponse", (r) => {
      const status = r.u16("status");
      if (!isKeyPackageStatus(status)) throw new MalformedError(`status: unknown value ${status}`);
      if (status !== KeyPackageStatus.ok) return new KeyPackageUploadResponse(status, undefined, r.u32("entry_index"));
      const group = r.u32("group_available");
      const connection = r.u32("connection_available");
      const groupLastResort = readBool(r, "group_last_resort");
      const connectionLastResort = readBool(r, "connection_last_resort");
      return KeyPackageUploadResponse.ok({ group, connection, groupLastResort, connectionLastResort });
    });
  }
}
