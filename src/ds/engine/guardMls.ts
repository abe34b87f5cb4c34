// ts-mls reports failures with its own MlsError classes (and sometimes plain TypeErrors on
// malformed input); the engine's callers only ever see DsEngineErrors.
import { MlsCryptoVerificationError } from "../../mls/adapter.js";
import { BadSignatureError, DsEngineError } from "./errors.js";

/** Runs a ts-mls step, turning whatever it throws into a typed engine error. */
export async function guardMls<T>(step: () => Promise<T>, wrap: (msg: string, cause: unknown) => DsEngineError): Promise<T> {
  try {
    return await step();
  } catch (e) {
    if (e instanceof DsEngineError) throw e;
    if (e instanceof MlsCryptoVerificationError) throw new BadSignatureError(e.message, { cause: e });
    throw wrap(e instanceof Error ? e.message : String(e), e);
  }
}
