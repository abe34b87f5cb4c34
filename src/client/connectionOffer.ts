// Sealing and opening connection offers (src/protocol/ConnectionOffer.ts): HPKE base mode to the
// init key of the responder's connection KeyPackage, the KeyPackageRef as AAD so an offer cannot
// be replayed against another KeyPackage. Only the responder (holder of the init private key)
// can open one; its QS sees ciphertext of a fixed-ish size.
import type { CiphersuiteImpl, KeyPackage, PrivateKeyPackage } from "ts-mls";
import { platform } from "../platform/current.js";
import { joinerSuiteIds } from "../protocol/constants.js";
import { makeKeyPackageRef } from "../mls/adapter.js";
import { CONNECTION_OFFER_HPKE_INFO, ConnectionOffer, SealedConnectionOffer } from "../protocol/ConnectionOffer.js";

export class ConnectionOfferError extends Error {
  override name = "ConnectionOfferError";
}

const info = new TextEncoder().encode(CONNECTION_OFFER_HPKE_INFO);

/** The HPKE suite of a KeyPackage's init key: the one the DS seals joiner keys with. */
function suiteFor(kp: KeyPackage) {
  try {
    return platform().hpkeSuite(...joinerSuiteIds(kp.cipherSuite));
  } catch (e) {
    throw new ConnectionOfferError(`cipher suite ${String(kp.cipherSuite)} is not supported for connection offers`, { cause: e });
  }
}

export async function sealConnectionOffer(offer: ConnectionOffer, to: KeyPackage, cs: CiphersuiteImpl): Promise<Uint8Array> {
  const suite = suiteFor(to);
  const ref = await makeKeyPackageRef(to, cs.hash);
  const recipientPublicKey = await suite.kem.deserializePublicKey(to.initKey);
  const { ct, enc } = await suite.seal({ recipientPublicKey, info }, offer.serialize(), ref);
  return new SealedConnectionOffer(ref, new Uint8Array(enc), new Uint8Array(ct)).serialize();
}

/** Opens an offer sealed to one of `candidates` (by KeyPackageRef); ConnectionOfferError otherwise. */
export async function openConnectionOffer(
  sealed: Uint8Array,
  candidates: readonly { publicPackage: KeyPackage; privatePackage: PrivateKeyPackage }[],
  cs: CiphersuiteImpl,
): Promise<{ offer: ConnectionOffer; keyPackage: { publicPackage: KeyPackage; privatePackage: PrivateKeyPackage } }> {
  let s: SealedConnectionOffer;
  try {
    s = SealedConnectionOffer.deserialize(sealed);
  } catch (e) {
    throw new ConnectionOfferError("malformed sealed connection offer", { cause: e });
  }
  for (const kp of candidates) {
    const ref = await makeKeyPackageRef(kp.publicPackage, cs.hash);
    if (ref.length !== s.keyPackageRef.length || !ref.every((b, i) => b === s.keyPackageRef[i])) continue;
    const suite = suiteFor(kp.publicPackage);
    let pt: ArrayBuffer;
    try {
      const recipientKey = await suite.kem.deserializePrivateKey(kp.privatePackage.initPrivateKey);
      pt = await suite.open({ recipientKey, enc: s.kemOutput, info }, s.ciphertext, s.keyPackageRef);
    } catch (e) {
      throw new ConnectionOfferError("the connection offer does not open", { cause: e });
    }
    try {
      return { offer: ConnectionOffer.deserialize(new Uint8Array(pt)), keyPackage: kp };
    } catch (e) {
      throw new ConnectionOfferError("malformed connection offer", { cause: e });
    }
  }
  throw new ConnectionOfferError("the connection offer is for none of this client's connection KeyPackages");
}
