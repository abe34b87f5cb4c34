// The Queueing Service: queues with forward-secret storage, signed owner requests, sealed queue
// references, DS fanout intake and the DS-side fanout signer.
export { QueueingService, DEFAULT_QS_LIMITS, type QsLimits, type QueueingServiceOptions, type FanoutResult } from "./QueueingService.js";
export { QueueReferenceKeyPair, QueueReferenceKeys, type QueueReferenceKeysOptions } from "./QueueReferenceKeys.js";
export { sealQueueReference } from "./queueReference.js";
export { QueueOwner, newInitialSecret } from "./QueueOwner.js";
export { QueueMessageDecryptor, type QueueKeyState } from "./QueueMessageDecryptor.js";
export { initialChainKey, nextChainKey, messageKey, messageAad, sealWithChain, openWithKey, CHAIN_KEY_LENGTH, type MessageKey } from "./QueueChain.js";
export { Ed25519SigningKey } from "./Ed25519SigningKey.js";
export {
  DsFanoutSigner,
  recipientBucket,
  fanoutOutcome,
  type DsFanoutSignerOptions,
  type DsSigningKeyRecord,
  type FanoutBatch,
  type FanoutItemLike,
  type PlannedFanout,
} from "./DsFanoutSigner.js";
export { StaticVerificationKeyResolver, type VerificationKeyResolver } from "./VerificationKeyResolver.js";
export { HttpVerificationKeyResolver, type HttpVerificationKeyResolverOptions } from "./HttpVerificationKeyResolver.js";
export {
  QueueExistsError,
  type EnqueueEntry,
  type EnqueueOptions,
  type EnqueueOutcome,
  type FetchResult,
  type MessageSealer,
  type QueueHead,
  type QueueStore,
  type StoredMessage,
} from "./QueueStore.js";
export { LevelQueueStore, levelQueueHeadKey, levelQueueMessageKey, chainKeyOfRawHead } from "./LevelQueueStore.js";
export { MemoryQueueStore } from "./MemoryQueueStore.js";
export { queueStorageKey } from "./queueStoreCodec.js";
export { KeyLocks } from "./KeyLocks.js";
export * from "../protocol/QsErrors.js";
