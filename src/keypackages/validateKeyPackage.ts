// What the directory checks before it stores a KeyPackage (RFC 9420 s10.1, s7.2, plus this
// profile's queue-config rule). Cheap structural checks run first and the two signature checks
// last, so a garbage upload costs little. Each failure is its own typed error with the entry index.
import { getNodeCiphersuiteImpl } from "../mls/cryptoProvider.js";
import {
  ciphersuites,
  extensionsSupportedByCapabilities,
  verifyKeyPackage,
  verifyLeafNodeSignatureKeyPackage,
  type KeyPackage,
  type LeafNode,
} from "../mls/adapter.js";
import { decodeClientQueueConfig, leafQueueConfig } from "../protocol/ClientQueueConfig.js";
import { EXTENSION_TYPE_QUEUE_CONFIG } from "../protocol/constants.js";
import {
  BadKeyPackageSignatureError,
  InvalidKeyPackageError,
  InvalidQueueConfigError,
  KeyPackageExpiredError,
  LifetimeTooLongError,
  MissingQueueConfigCapabilityError,
  MissingQueueConfigError,
  NotYetValidError,
  UnsupportedCiphersuiteError,
} from "../protocol/KeyPackageErrors.js";
import { bytesEqual } from "./KeyPackageStore.js";

export interface KeyPackageValidationOptions {
  /** MLS cipher suite ids this provider accepts */
  readonly supportedCipherSuites: readonly number[];
  /** not_after may lie at most this far after now */
  readonly maxLifetimeSeconds: number;
  /** not_before may lie at most this far after now (clock skew between client and provider) */
  readonly maxClockSkewSeconds: number;
}

export interface ValidatedKeyPackage {
  readonly suite: number;
  readonly notBefore: bigint;
  readonly notAfter: bigint;
}

/** Validates one decoded KeyPackage at `nowSeconds`; throws a KeyPackageError naming entry `index`. */
export async function validateKeyPackage(kp: KeyPackage, nowSeconds: bigint, opts: KeyPackageValidationOptions, index: number): Promise<ValidatedKeyPackage> {
  if (kp.version !== "mls10") throw new InvalidKeyPackageError("KeyPackage version is not mls10", index);
  const suite = (ciphersuites as Record<string, number>)[kp.cipherSuite];
  if (suite === undefined || !opts.supportedCipherSuites.includes(suite)) throw new UnsupportedCiphersuiteError("cipher suite not supported by this provider", index);
  const leaf = kp.leafNode;
  if (leaf.leafNodeSource !== "key_package") throw new InvalidKeyPackageError("leaf_node_source is not key_package", index);

  const { notBefore, notAfter } = leaf.lifetime;
  if (notBefore > notAfter) throw new InvalidKeyPackageError("lifetime not_before is after not_after", index);
  if (notAfter <= nowSeconds) throw new KeyPackageExpiredError("KeyPackage lifetime has ended", index);
  if (notBefore > nowSeconds + BigInt(opts.maxClockSkewSeconds)) throw new NotYetValidError("KeyPackage lifetime has not begun", index);
  if (notAfter - nowSeconds > BigInt(opts.maxLifetimeSeconds)) throw new LifetimeTooLongError(`not_after lies more than ${opts.maxLifetimeSeconds} s ahead`, index);

  const caps = leaf.capabilities;
  if (!caps.versions.includes("mls10")) throw new InvalidKeyPackageError("capabilities do not list mls10", index);
  if (!caps.ciphersuites.includes(kp.cipherSuite)) throw new InvalidKeyPackageError("capabilities do not list the KeyPackage's cipher suite", index);
  if (!caps.credentials.includes(leaf.credential.credentialType)) throw new InvalidKeyPackageError("capabilities do not list the credential type", index);
  if (!caps.extensions.includes(EXTENSION_TYPE_QUEUE_CONFIG)) throw new MissingQueueConfigCapabilityError("capabilities do not list the queue-config extension", index);
  // RFC 9420 s7.2: every non-default extension of the leaf is listed in its capabilities.
  if (!extensionsSupportedByCapabilities(leaf.extensions, caps)) throw new InvalidKeyPackageError("leaf carries an extension its capabilities do not list", index);
  const qc = leafQueueConfig(leaf as LeafNode);
  if (qc === undefined) throw new MissingQueueConfigError("leaf node has no queue-config extension", index);
  try {
    decodeClientQueueConfig(qc);
  } catch (e) {
    throw new InvalidQueueConfigError("queue-config extension does not decode", index, { cause: e });
  }
  // RFC 9420 s10.1: init_key and encryption_key must differ.
  if (bytesEqual(kp.initKey, leaf.hpkePublicKey)) throw new InvalidKeyPackageError("init_key equals the leaf encryption key", index);

  let cs: Awaited<ReturnType<typeof getNodeCiphersuiteImpl>>;
  try {
    cs = await getNodeCiphersuiteImpl(suite, "engine");
  } catch (e) {
    throw new UnsupportedCiphersuiteError("no signature implementation for the cipher suite", index, { cause: e });
  }
  let ok = false;
  try {
    ok = (await verifyLeafNodeSignatureKeyPackage(leaf, cs.signature)) && (await verifyKeyPackage(kp, cs.signature));
  } catch {
    ok = false;
  }
  if (!ok) throw new BadKeyPackageSignatureError("KeyPackage or leaf node signature does not verify", index);
  return { suite, notBefore, notAfter };
}
