// Binary HTTP (RFC 9292): public API.
export { BinaryRequest, validateRequestControlData } from "./BinaryRequest.js";
export type { BinaryRequestInit } from "./BinaryRequest.js";
export { BinaryResponse, isFinalStatus, isInformationalStatus } from "./BinaryResponse.js";
export type { BinaryResponseInit, InformationalResponse } from "./BinaryResponse.js";
export { isToken, toFieldList, validateFieldName, validateFieldValue } from "./Field.js";
export type { Field } from "./Field.js";
export { DEFAULT_LIMITS, resolveLimits } from "./limits.js";
export type { BhttpLimits } from "./limits.js";
export type { SerializeOptions } from "./sections.js";
export {
  BhttpError,
  InvalidControlDataError,
  InvalidFieldError,
  InvalidFramingIndicatorError,
  InvalidStatusError,
  LimitExceededError,
  NonZeroPaddingError,
} from "./errors.js";
export { DecodeError, TruncatedError, VarintError } from "../codec/errors.js";
