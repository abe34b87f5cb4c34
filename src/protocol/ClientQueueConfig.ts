// ClientQueueConfig: where the DS fans a member's messages out to, carried in a LeafNode
// extension (EXTENSION_TYPE_QUEUE_CONFIG) covered by the leaf signature:
//     struct { opaque qs_domain<V>; opaque sealed_reference<V>; } ClientQueueConfig;
// The DS reads the QS domain (to route per destination QS and to check one Welcome per guest
// provider) and never opens sealed_reference, which only the QS can.
import type { LeafNode } from "../mls/adapter.js";
import { EXTENSION_TYPE_QUEUE_CONFIG } from "./constants.js";
import { decodeExact, TlsWriter } from "./tls.js";

export interface ClientQueueConfig {
  readonly qsDomain: string;
  readonly sealedReference: Uint8Array;
}

export function encodeClientQueueConfig(c: ClientQueueConfig): Uint8Array {
  return new TlsWriter().opaque(new TextEncoder().encode(c.qsDomain)).opaque(c.sealedReference).finish();
}

export function decodeClientQueueConfig(bytes: Uint8Array): ClientQueueConfig {
  return decodeExact(bytes, "ClientQueueConfig", (r) => {
    const domain = new TextDecoder("utf-8", { fatal: true }).decode(r.opaque("qs_domain", 253));
    if (!/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?$/i.test(domain)) throw new Error("qs_domain is not a domain name");
    return { qsDomain: domain.toLowerCase(), sealedReference: r.opaque("sealed_reference", 1024) };
  });
}

/** The raw queue-config extension data of a leaf, or undefined when it has none. */
export function leafQueueConfig(leaf: LeafNode): Uint8Array | undefined {
  for (const e of leaf.extensions) {
    const t = e.extensionType as unknown;
    if (t === EXTENSION_TYPE_QUEUE_CONFIG) return e.extensionData;
  }
  return undefined;
}
