import { AeadId } from "@hpke/core";
import { NodeAead } from "./NodeAead.js";

/** AES-128-GCM (AEAD id 0x0001) on node:crypto. */
export class NodeAes128Gcm extends NodeAead {
  readonly id = AeadId.Aes128Gcm;
  readonly keySize = 16;
  readonly cipherName = "aes-128-gcm" as const;
}

/** AES-256-GCM (AEAD id 0x0002) on node:crypto. */
export class NodeAes256Gcm extends NodeAead {
  readonly id = AeadId.Aes256Gcm;
  readonly keySize = 32;
  readonly cipherName = "aes-256-gcm" as const;
}
