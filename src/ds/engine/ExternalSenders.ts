// The external_senders GroupContext extension (RFC 9420 s12.1.8.3):
//     ExternalSender external_senders<V>;   -- ONE extension holding a vector
// ts-mls 1.6.4 instead writes one extension per sender holding a bare ExternalSender (no vector
// wrapper) and indexes sender_index over those extensions; it cannot read the RFC form, which
// OpenMLS and mls-rs write. The engine reads both, never through ts-mls's extension-level
// decoder. The two forms cannot be confused: in the RFC form the leading varint is the length of
// everything that follows; in the 1.6.4 form it is the length of the signature key alone, which a
// credential (at least a 2-byte type) must follow.
import {
  decodeExternalSender,
  decodeVarLenType,
  encode,
  encodeExternalSender,
  externalSenderEncoder,
  varLenTypeEncoder,
  type Extension,
  type ExternalSender,
} from "../../mls/adapter.js";
import { DsEngineError } from "./errors.js";

export type ExternalSendersForm = "rfc9420" | "ts-mls-1.6";

export interface ExternalSenders {
  senders: ExternalSender[];
  /** undefined when the extension is absent */
  form: ExternalSendersForm | undefined;
}

/** An external_senders extension that is neither the RFC form nor the ts-mls 1.6.4 form. */
export class InvalidExtensionError extends DsEngineError {
  override name = "InvalidExtensionError";
  readonly code = "invalid_extension";
}

const decodeSenderVector = decodeVarLenType(decodeExternalSender);

function decodeExact<T>(dec: (b: Uint8Array, o: number) => [T, number] | undefined, data: Uint8Array): T | undefined {
  try {
    const r = dec(data, 0);
    return r !== undefined && r[1] === data.length ? r[0] : undefined;
  } catch {
    return undefined;
  }
}

/** Reads the external senders of a GroupContext's extension list, in either form. */
export function readExternalSenders(extensions: readonly Extension[]): ExternalSenders {
  const exts = extensions.filter((e) => e.extensionType === "external_senders");
  if (exts.length === 0) return { senders: [], form: undefined };
  if (exts.length === 1) {
    const vec = decodeExact(decodeSenderVector, exts[0]!.extensionData);
    if (vec !== undefined) return { senders: vec, form: "rfc9420" };
  }
  // several extensions of one type only happen in the ts-mls 1.6.4 form
  const senders: ExternalSender[] = [];
  for (const e of exts) {
    const s = decodeExact(decodeExternalSender, e.extensionData);
    if (s === undefined) throw new InvalidExtensionError("undecodable external_senders extension");
    senders.push(s);
  }
  return { senders, form: "ts-mls-1.6" };
}

/** The external sender at `senderIndex`, or undefined. */
export function findExternalSender(extensions: readonly Extension[], senderIndex: number): ExternalSender | undefined {
  return readExternalSenders(extensions).senders[senderIndex];
}

/** external_senders extension(s) in the chosen form. */
export function externalSendersExtensions(senders: readonly ExternalSender[], form: ExternalSendersForm = "rfc9420"): Extension[] {
  if (form === "rfc9420") {
    return [{ extensionType: "external_senders", extensionData: encode(varLenTypeEncoder(externalSenderEncoder))([...senders]) }];
  }
  return senders.map((s) => ({ extensionType: "external_senders", extensionData: encodeExternalSender(s) }));
}
