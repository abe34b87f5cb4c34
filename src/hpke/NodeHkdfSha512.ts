import { KdfId } from "@hpke/core";
import { NodeHkdf } from "./NodeHkdf.js";

/** HKDF-SHA512 (KDF id 0x0003) on node:crypto HMAC. */
export class NodeHkdfSha512 extends NodeHkdf {
  readonly id = KdfId.HkdfSha512;
  readonly hashSize = 64;
  readonly hashName = "sha512" as const;
}
