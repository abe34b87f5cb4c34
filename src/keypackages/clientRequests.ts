// Client side of the directory: building KeyPackages for it, signing uploads, and bundling
// KeyPackageRequests. Tests, benches and the SDK use these as a real client would.
import type { CiphersuiteImpl, KeyPackage, Lifetime, PrivateKeyPackage } from "ts-mls";
import { lifetimeFor, makeKeyPackage } from "../client/dsMember.js";
import { signWithLabel as signWithLabelEd25519 } from "../platform/signWithLabel.js";
import { encodeMlsMessage } from "../mls/adapter.js";
import type { ClientQueueConfig } from "../protocol/ClientQueueConfig.js";
import { KEY_PACKAGE_DIRECTORY_VERSION, KEY_PACKAGE_UPLOAD_LABEL, MLS_PROTOCOL_VERSION_MLS10, type KeyPackagePool } from "../protocol/KeyPackageConstants.js";
import { KeyPackageRequest } from "../protocol/KeyPackageRequest.js";
import { KeyPackageTransaction } from "../protocol/KeyPackageTransaction.js";
import { encodeUploadContent, KeyPackageUpload, type KeyPackageUploadContent } from "../protocol/KeyPackageUpload.js";

/** A KeyPackage as the directory carries it: an MLSMessage with wire_format mls_key_package. */
export function keyPackageMessage(kp: KeyPackage): Uint8Array {
  return encodeMlsMessage({ version: "mls10", wireformat: "mls_key_package", keyPackage: kp });
}

/** makeKeyPackage (src/client/dsMember.ts) with an explicit lifetime, argument order kept for callers. */
export function makeDirectoryKeyPackage(
  cs: CiphersuiteImpl,
  pseudonym: Uint8Array,
  queueConfig: ClientQueueConfig,
  lifetime: Lifetime,
  signatureKeyPair?: { signKey: Uint8Array; publicKey: Uint8Array },
): Promise<{ publicPackage: KeyPackage; privatePackage: PrivateKeyPackage }> {
  return makeKeyPackage(cs, pseudonym, queueConfig, signatureKeyPair, lifetime);
}

export { lifetimeFor };

export interface UploadItem {
  readonly pool: KeyPackagePool;
  readonly lastResort?: boolean;
  /** a KeyPackage object, or its MLSMessage bytes */
  readonly keyPackage: KeyPackage | Uint8Array;
}

/** The signed KeyPackageUpload bytes for the upload endpoint. */
export function signUpload(opts: {
  userId: Uint8Array;
  clientId: Uint8Array;
  /** strictly increasing per client; a millisecond timestamp works */
  sequence: bigint;
  items: readonly UploadItem[];
  /** the client's Ed25519 upload key registered at the provider */
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}): Uint8Array {
  const content: KeyPackageUploadContent = {
    version: KEY_PACKAGE_DIRECTORY_VERSION,
    userId: opts.userId,
    clientId: opts.clientId,
    sequence: opts.sequence,
    entries: opts.items.map((it) => ({
      pool: it.pool,
      lastResort: it.lastResort ?? false,
      keyPackage: it.keyPackage instanceof Uint8Array ? it.keyPackage : keyPackageMessage(it.keyPackage),
    })),
  };
  const tbs = encodeUploadContent(content);
  const signature = signWithLabelEd25519(opts.privateKey, opts.publicKey, KEY_PACKAGE_UPLOAD_LABEL, tbs);
  return new KeyPackageUpload(content, signature, tbs).serialize();
}

/** A KeyPackageTransaction for (user id, bearer token) pairs, all for one cipher suite. */
export function keyPackageTransaction(
  targets: readonly { userId: Uint8Array; token: Uint8Array }[],
  cipherSuite: number,
  lastResortAllowed = false,
): Uint8Array {
  return new KeyPackageTransaction(
    targets.map((t) => new KeyPackageRequest(t.userId, t.token, MLS_PROTOCOL_VERSION_MLS10, cipherSuite)),
    lastResortAllowed,
  ).serialize();
}
