import { AeadId } from "@hpke/core";
import { NodeAead } from "./NodeAead.js";

/** ChaCha20-Poly1305 (AEAD id 0x0003) on node:crypto. @hpke/core itself ships no ChaCha20-Poly1305. */
export class NodeChaCha20Poly1305 extends NodeAead {
  readonly id = AeadId.Chacha20Poly1305;
  readonly keySize = 32;
  readonly cipherName = "chacha20-poly1305" as const;
}
