// Turning what a client sent into a PublicMessage the engine can follow, or a typed refusal.
import { decodeMlsMessage, type MLSMessage, type PublicMessage } from "../../mls/adapter.js";
import { MalformedMessageError, PrivateHandshakeError, UnexpectedContentError, UnsupportedVersionError } from "./errors.js";

/** Encoded MLSMessage bytes, a decoded MLSMessage, or a bare PublicMessage. */
export type HandshakeInput = Uint8Array | MLSMessage | PublicMessage;

export function decodeMlsMessageStrict(bytes: Uint8Array): MLSMessage {
  let r: [MLSMessage, number] | undefined;
  try {
    r = decodeMlsMessage(bytes, 0);
  } catch (e) {
    throw new MalformedMessageError("undecodable MLSMessage", { cause: e });
  }
  if (r === undefined) throw new MalformedMessageError("undecodable MLSMessage");
  if (r[1] !== bytes.length) throw new MalformedMessageError(`${bytes.length - r[1]} trailing byte(s) after MLSMessage`);
  return r[0];
}

function isMlsMessage(x: MLSMessage | PublicMessage): x is MLSMessage {
  return "wireformat" in x;
}

/**
 * The PublicMessage inside `input`, whose content type must be `expected`. Handshakes sent as
 * PrivateMessage are refused: their header shows content_type in clear, the content does not.
 */
export function toPublicMessage(input: HandshakeInput, expected: "proposal" | "commit"): PublicMessage {
  const msg = input instanceof Uint8Array ? decodeMlsMessageStrict(input) : input;
  let pm: PublicMessage;
  if (isMlsMessage(msg)) {
    if (msg.version !== "mls10") throw new UnsupportedVersionError(`unsupported protocol version ${String(msg.version)}`);
    if (msg.wireformat === "mls_private_message") {
      const ct = msg.privateMessage.contentType;
      if (ct === "application") throw new UnexpectedContentError(`expected a ${expected}, got an application message`);
      throw new PrivateHandshakeError(`a ${ct} sent as PrivateMessage cannot be tracked by the DS; send handshakes as PublicMessage`);
    }
    if (msg.wireformat !== "mls_public_message") throw new UnexpectedContentError(`expected a ${expected}, got ${msg.wireformat}`);
    pm = msg.publicMessage;
  } else {
    pm = msg;
  }
  if (pm.content.contentType !== expected) {
    throw new UnexpectedContentError(`expected a ${expected}, got ${pm.content.contentType}`);
  }
  return pm;
}
