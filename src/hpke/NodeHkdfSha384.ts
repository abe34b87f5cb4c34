import { KdfId } from "@hpke/core";
import { NodeHkdf } from "./NodeHkdf.js";

/** HKDF-SHA384 (KDF id 0x0002) on node:crypto HMAC. */
export class NodeHkdfSha384 extends NodeHkdf {
  readonly id = KdfId.HkdfSha384;
  readonly hashSize = 48;
  readonly hashName = "sha384" as const;
}
