// KeyPackage upload (our profile; the drafts leave upload to the provider). A client registers
// KeyPackages for its own user and client id, authenticated by the Ed25519 key the provider
// registered for that client:
//     enum { group(0), connection(1), (255) } KeyPackagePool;
//     struct {
//       KeyPackagePool pool;
//       bool last_resort;        // reused when nothing else is left; one per (pool, cipher suite)
//       MLSMessage key_package;  // wire_format = mls_key_package
//     } KeyPackageUploadEntry;
//     struct {
//       uint16 version;          // KEY_PACKAGE_DIRECTORY_VERSION
//       opaque user_id<V>;
//       opaque client_id<V>;
//       uint64 sequence;         // strictly increasing per client: a replayed upload is refused
//       KeyPackageUploadEntry key_packages<V>;
//     } KeyPackageUploadTBS;
//     struct {
//       KeyPackageUploadTBS content;
//       opaque signature<V>;     // SignWithLabel(client key, "MIMI KeyPackage upload", content)
//     } KeyPackageUpload;
// An upload with no entries is valid: it answers the client's current pool counts.
import type { KeyPackage } from "../mls/adapter.js";
import {
  KeyPackagePool,
  MAX_CLIENT_ID_BYTES,
  MAX_KEY_PACKAGE_BYTES,
  MAX_SIGNATURE_BYTES,
  MAX_UPLOAD_ENTRIES,
  MAX_USER_ID_BYTES,
} from "./KeyPackageConstants.js";
import { readBool } from "./KeyPackageTransaction.js";
import { readKeyPackageMessage } from "./KeyPackageTransactionResponse.js";
import { MalformedError } from "./errors.js";
import { decodeExact, TlsWriter, type TlsReader } from "./tls.js";

export interface KeyPackageUploadEntry {
  readonly pool: KeyPackagePool;
  readonly lastResort: boolean;
  /** exact MLSMessage bytes */
  readonly keyPackage: Uint8Array;
  /** the decoded KeyPackage (set by deserialize; absent on entries built for sending) */
  readonly decoded?: KeyPackage;
}

export interface KeyPackageUploadContent {
  readonly version: number;
  readonly userId: Uint8Array;
  readonly clientId: Uint8Array;
  readonly sequence: bigint;
  readonly entries: readonly KeyPackageUploadEntry[];
}

const POOLS = new Set<number>([KeyPackagePool.group, KeyPackagePool.connection]);

function readEntry(r: TlsReader): KeyPackageUploadEntry {
  const pool = r.u8("pool");
  if (!POOLS.has(pool)) throw new MalformedError(`pool: unknown value ${pool}`);
  const lastResort = readBool(r, "last_resort");
  const start = r.offset;
  const m = readKeyPackageMessage(r, "key_package");
  if (r.offset - start > MAX_KEY_PACKAGE_BYTES) throw new MalformedError(`key_package: more than ${MAX_KEY_PACKAGE_BYTES} bytes`);
  return { pool: pool as KeyPackagePool, lastResort, keyPackage: new Uint8Array(m.bytes), decoded: m.value };
}

/** KeyPackageUploadTBS: the bytes the client signs. */
export function encodeUploadContent(c: KeyPackageUploadContent): Uint8Array {
  if (c.sequence < 0n || c.sequence >= 1n << 64n) throw new RangeError("sequence must be a uint64");
  return new TlsWriter()
    .u16(c.version)
    .opaque(c.userId)
    .opaque(c.clientId)
    .u64(c.sequence)
    .vector(c.entries, (w, e) => w.u8(e.pool).u8(e.lastResort ? 1 : 0).raw(e.keyPackage))
    .finish();
}

export class KeyPackageUpload {
  constructor(
    readonly content: KeyPackageUploadContent,
    readonly signature: Uint8Array,
    /** the signed bytes as received (or as encoded) */
    readonly tbs: Uint8Array = encodeUploadContent(content),
  ) {}

  serialize(): Uint8Array {
    return new TlsWriter(this.tbs.length + this.signature.length + 4).raw(this.tbs).opaque(this.signature).finish();
  }

  /** The leading uint16 version, if present, so a caller can refuse other versions before decoding. */
  static peekVersion(bytes: Uint8Array): number | undefined {
    return bytes.length >= 2 ? (bytes[0]! << 8) | bytes[1]! : undefined;
  }

  static deserialize(bytes: Uint8Array): KeyPackageUpload {
    return decodeExact(bytes, "KeyPackageUpload", (r) => {
      const version = r.u16("version");
      const userId = r.opaque("user_id", MAX_USER_ID_BYTES);
      const clientId = r.opaque("client_id", MAX_CLIENT_ID_BYTES);
      const sequence = r.u64("sequence");
      const entries = r.vector("key_packages", readEntry, MAX_UPLOAD_ENTRIES);
      const tbs = new Uint8Array(bytes.subarray(0, r.offset)); // a copy, also when given a Buffer
      const signature = r.opaque("signature", MAX_SIGNATURE_BYTES);
      return new KeyPackageUpload({ version, userId, clientId, sequence, entries }, signature, tbs);
    });
  }
}
