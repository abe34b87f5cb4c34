import { KdfId } from "@hpke/core";
import { NodeHkdf } from "./NodeHkdf.js";

/** HKDF-SHA256 (KDF id 0x0001) on node:crypto HMAC. */
export class NodeHkdfSha256 extends NodeHkdf {
  readonly id = KdfId.HkdfSha256;
  readonly hashSize = 32;
  readonly hashName = "sha256" as const;
}
