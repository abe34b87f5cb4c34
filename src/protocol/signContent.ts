// SignContent of MLS SignWithLabel (RFC 9420 s5.1.2), shared by every signer and verifier.
import { TlsWriter } from "./tls.js";

const enc = new TextEncoder();

/** SignContent { opaque label<V> = "MLS 1.0 " + Label; opaque content<V>; } */
export function signContent(label: string, content: Uint8Array): Uint8Array {
  return new TlsWriter(content.length + label.length + 16).opaque(enc.encode(`MLS 1.0 ${label}`)).opaque(content).finish();
}
