export type { GroupHead, GroupStore, GroupWrite, RecordKind, RecordPut, RecordRef } from "./GroupStore.js";
export {
  CorruptRecordError,
  GroupExistsError,
  GroupNotFoundError,
  StoreClosedError,
  StoreError,
  StoreInputError,
  StoreIoError,
  VersionConflictError,
  WrongKeyError,
} from "./errors.js";
export { LevelGroupStore, levelHeadKey, levelRecordKey, levelReservationKey } from "./LevelGroupStore.js";
export { MemoryGroupStore } from "./MemoryGroupStore.js";
export { KeyedMutex } from "./KeyedMutex.js";
export { groupStorageKey, recordAad, recordTag, sealRecord, openRecord } from "./recordCrypto.js";
