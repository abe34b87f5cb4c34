// The provider's long-term DS signing identity (Ed25519): every group lists its public key in
// external_senders, and fanout requests are signed with it. Kept in the data directory
// (mode 0600, written atomically) so it survives restarts.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { writePrivateJson } from "../util/privateFile.js";
import type { DsIdentity } from "../ds/DeliveryService.js";
import { generateEd25519 } from "../util/keygen.js";

export const IDENTITY_FILE = "ds-identity.json";

export class IdentityFileError extends Error {
  override name = "IdentityFileError";
}

export async function loadOrCreateDsIdentity(dataDir: string, domain: string): Promise<DsIdentity> {
  const path = join(dataDir, IDENTITY_FILE);
  try {
    const j = JSON.parse(await readFile(path, "utf8")) as { domain?: unknown; publicKey?: unknown; privateKey?: unknown };
    if (typeof j.publicKey !== "string" || typeof j.privateKey !== "string" || !/^[0-9a-f]{64}$/.test(j.publicKey) || !/^[0-9a-f]{64}$/.test(j.privateKey)) {
      throw new IdentityFileError(`${IDENTITY_FILE} is malformed`);
    }
    if (j.domain !== domain) throw new IdentityFileError(`${IDENTITY_FILE} belongs to ${String(j.domain)}, not ${domain}`);
    return { domain, signaturePublicKey: Buffer.from(j.publicKey, "hex"), signaturePrivateKey: Buffer.from(j.privateKey, "hex") };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") {
      if (e instanceof IdentityFileError) throw e;
      throw new IdentityFileError(`cannot read ${IDENTITY_FILE}: ${(e as Error).message}`);
    }
  }
  const k = generateEd25519();
  await writePrivateJson(path, { domain, publicKey: Buffer.from(k.publicKey).toString("hex"), privateKey: Buffer.from(k.privateKey).toString("hex") });
  return { domain, signaturePublicKey: k.publicKey, signaturePrivateKey: k.privateKey };
}
