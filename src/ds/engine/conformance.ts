// Differential conformance run of the engine against the official MLS passive-client vectors
// (mlswg/mls-implementations: passive-client-welcome.json, passive-client-handling-commit.json,
// passive-client-random.json).
//
// For each test case whose cipher suite ts-mls can run, a ts-mls member is built from the
// vector's private keys and joins through the Welcome: it is the oracle, and its epoch
// authenticators are checked against the vector. The engine cannot read the Welcome (its
// GroupInfo is encrypted to the joiner), so it is bootstrapped from the oracle's public state
// right after the join (GroupContext, ratchet tree, confirmation tag) with full tree validation,
// which is what a DS that created the group holds. Additionally the GroupInfo is decrypted with
// the joiner's keys and PublicGroup.fromGroupInfo must produce the same state, which exercises
// GroupInfo signature and tree validation on trees from independent implementations.
// Then every proposal and commit is fed to both; after every epoch the encoded GroupContext,
// the encoded ratchet tree and the confirmation tag must be byte-identical.
import { readFile } from "node:fs/promises";
import { joinGroup, makePskIndex, processPublicMessage, type ClientState } from "ts-mls";
import {
  accumulatePskSecret,
  bytesToBase64,
  decodeMlsMessage,
  decodeRatchetTree,
  decryptGroupInfo,
  decryptGroupSecrets,
  encodeGroupContext,
  encodeRatchetTree,
  makeKeyPackageRef,
  type CiphersuiteImpl,
  type KeyPackage,
  type MLSMessage,
  type RatchetTree,
  type Welcome,
} from "../../mls/adapter.js";
import { getNodeCiphersuiteImpl } from "../../mls/cryptoProvider.js";
import { DsEngineError } from "./errors.js";
import { PublicGroup } from "./PublicGroup.js";

export interface PassiveClientEpoch {
  proposals: string[];
  commit: string;
  epoch_authenticator: string;
}

export interface PassiveClientCase {
  cipher_suite: number;
  external_psks: { psk_id: string; psk: string }[];
  key_package: string;
  signature_priv: string;
  encryption_priv: string;
  init_priv: string;
  welcome: string;
  ratchet_tree: string | null;
  initial_epoch_authenticator: string;
  epochs: PassiveClientEpoch[];
}

export interface ConformanceResult {
  /** cases run (cipher suite available, oracle joined) */
  cases: number;
  /** epochs (commits) the engine processed and matched */
  epochs: number;
  /** proposals the engine processed */
  proposals: number;
  /** cases not run, with the reason in skippedReasons */
  skipped: number;
  skippedReasons: Record<string, number>;
  /** epochs not followed because a handshake in them was a PrivateMessage */
  skippedEpochs: number;
  /** cases whose engine state was also bootstrapped from the decrypted GroupInfo */
  groupInfoBootstraps: number;
  divergences: string[];
}

export interface ConformanceOptions {
  /** Run only the cases this returns true for (index into the file). */
  filter?: (index: number, testCase: PassiveClientCase) => boolean;
}

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, "hex"));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

function decodeMessage(h: string): MLSMessage {
  const bytes = hex(h);
  const r = decodeMlsMessage(bytes, 0);
  if (r === undefined || r[1] !== bytes.length) throw new Error("undecodable MLSMessage in vector");
  return r[0];
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Differences between the engine and the oracle, empty when byte-identical. */
export function compareWithMember(group: PublicGroup, member: ClientState): string[] {
  const out: string[] = [];
  if (!sameBytes(encodeGroupContext(group.groupContext), encodeGroupContext(member.groupContext))) out.push("GroupContext differs");
  if (!sameBytes(encodeRatchetTree(group.ratchetTree as RatchetTree), encodeRatchetTree(member.ratchetTree))) out.push("ratchet tree differs");
  if (!sameBytes(group.confirmationTag, member.confirmationTag)) out.push("confirmation tag differs");
  return out;
}

/** The GroupInfo inside a Welcome, decrypted with the joiner's keys (test oracles only). */
async function openWelcomeGroupInfo(
  welcome: Welcome,
  keyPackage: KeyPackage,
  initPriv: Uint8Array,
  psks: Record<string, Uint8Array>,
  cs: CiphersuiteImpl,
) {
  const ref = await makeKeyPackageRef(keyPackage, cs.hash);
  const secrets = await decryptGroupSecrets(await cs.hpke.importPrivateKey(initPriv), ref, welcome, cs.hpke);
  if (secrets === undefined) return undefined;
  const [pskSecret] = await accumulatePskSecret(secrets.psks, makePskIndex(undefined, psks), cs, new Uint8Array(cs.kdf.size));
  return decryptGroupInfo(welcome, secrets.joinerSecret, pskSecret, cs);
}

async function runCase(index: number, t: PassiveClientCase, res: ConformanceResult): Promise<void> {
  const skip = (reason: string) => {
    res.skipped++;
    res.skippedReasons[reason] = (res.skippedReasons[reason] ?? 0) + 1;
  };
  let memberCs: CiphersuiteImpl;
  let engineCs: CiphersuiteImpl;
  try {
    memberCs = await getNodeCiphersuiteImpl(t.cipher_suite, "member");
    engineCs = await getNodeCiphersuiteImpl(t.cipher_suite, "engine");
  } catch {
    skip(`cipher suite ${t.cipher_suite} unavailable to ts-mls`);
    return;
  }
  const where = (e?: number) => `case ${index} (suite ${t.cipher_suite})${e === undefined ? "" : ` epoch ${e}`}`;
  const kpMsg = decodeMessage(t.key_package);
  const wMsg = decodeMessage(t.welcome);
  if (kpMsg.wireformat !== "mls_key_package" || wMsg.wireformat !== "mls_welcome") {
    res.divergences.push(`${where()}: vector key_package/welcome has an unexpected wire format`);
    return;
  }
  const psks: Record<string, Uint8Array> = {};
  for (const p of t.external_psks) psks[bytesToBase64(hex(p.psk_id))] = hex(p.psk);
  let tree: RatchetTree | undefined;
  if (t.ratchet_tree !== null) {
    const r = decodeRatchetTree(hex(t.ratchet_tree), 0);
    if (r === undefined) {
      res.divergences.push(`${where()}: undecodable ratchet_tree in vector`);
      return;
    }
    tree = r[0];
  }
  const privateKeys = { initPrivateKey: hex(t.init_priv), hpkePrivateKey: hex(t.encryption_priv), signaturePrivateKey: hex(t.signature_priv) };

  let member: ClientState;
  try {
    member = await joinGroup(wMsg.welcome, kpMsg.keyPackage, privateKeys, makePskIndex(undefined, psks), memberCs, tree);
  } catch {
    skip("ts-mls oracle could not join");
    return;
  }
  if (toHex(member.keySchedule.epochAuthenticator) !== t.initial_epoch_authenticator) {
    res.divergences.push(`${where()}: oracle epoch authenticator differs from the vector`);
    return;
  }
  res.cases++;

  let group: PublicGroup;
  try {
    group = await PublicGroup.fromPublicState(
      { groupContext: member.groupContext, ratchetTree: member.ratchetTree, confirmationTag: member.confirmationTag },
      engineCs,
    );
    const gi = await openWelcomeGroupInfo(wMsg.welcome, kpMsg.keyPackage, privateKeys.initPrivateKey, psks, memberCs);
    if (gi !== undefined) {
      const fromGi = await PublicGroup.fromGroupInfo(gi, tree, engineCs);
      if (!sameBytes(fromGi.serialize(), group.serialize())) {
        res.divergences.push(`${where()}: fromGroupInfo state differs from the member's public state`);
      }
      res.groupInfoBootstraps++;
    }
  } catch (e) {
    res.divergences.push(`${where()}: engine bootstrap failed: ${describe(e)}`);
    return;
  }
  const diff0 = compareWithMember(group, member);
  if (diff0.length > 0) {
    res.divergences.push(`${where()}: after join: ${diff0.join(", ")}`);
    return;
  }

  for (const [ei, ep] of t.epochs.entries()) {
    const messages = [...ep.proposals.map(decodeMessage), decodeMessage(ep.commit)];
    if (messages.some((m) => m.wireformat !== "mls_public_message")) {
      // the engine cannot follow an epoch whose handshake is encrypted: stop this case here
      res.skippedEpochs += t.epochs.length - ei;
      return;
    }
    try {
      for (const m of messages) {
        if (m.wireformat !== "mls_public_message") continue;
        const r = await processPublicMessage(member, m.publicMessage, makePskIndex(member, psks), memberCs);
        member = r.newState;
      }
    } catch (e) {
      res.divergences.push(`${where(ei)}: oracle rejected the vector's messages: ${describe(e)}`);
      return;
    }
    if (toHex(member.keySchedule.epochAuthenticator) !== ep.epoch_authenticator) {
      res.divergences.push(`${where(ei)}: oracle epoch authenticator differs from the vector`);
      return;
    }
    try {
      for (const m of messages.slice(0, -1)) {
        group = (await group.processProposal(m)).group;
        res.proposals++;
      }
      group = (await group.processCommit(messages[messages.length - 1]!)).group;
    } catch (e) {
      res.divergences.push(`${where(ei)}: engine rejected what the member accepted: ${describe(e)}`);
      return;
    }
    const diff = compareWithMember(group, member);
    if (diff.length > 0) {
      res.divergences.push(`${where(ei)}: ${diff.join(", ")}`);
      return;
    }
    res.epochs++;
  }
}

function describe(e: unknown): string {
  if (e instanceof DsEngineError) return `${e.code}: ${e.message}`;
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/** Runs every case of a passive-client vector file (or those `filter` selects). */
export async function runPassiveClientConformance(vectorFile: string, options: ConformanceOptions = {}): Promise<ConformanceResult> {
  const parsed: unknown = JSON.parse(await readFile(vectorFile, "utf8"));
  if (!Array.isArray(parsed)) throw new TypeError(`${vectorFile}: expected a JSON array of passive-client test cases`);
  const res: ConformanceResult = {
    cases: 0,
    epochs: 0,
    proposals: 0,
    skipped: 0,
    skippedReasons: {},
    skippedEpochs: 0,
    groupInfoBootstraps: 0,
    divergences: [],
  };
  for (const [i, t] of (parsed as PassiveClientCase[]).entries()) {
    if (options.filter !== undefined && !options.filter(i, t)) continue;
    try {
      await runCase(i, t, res);
    } catch (e) {
      res.divergences.push(`case ${i}: ${describe(e)}`);
    }
  }
  return res;
}

export function formatConformance(file: string, r: ConformanceResult): string {
  const reasons = Object.entries(r.skippedReasons)
    .map(([k, v]) => `${v} ${k}`)
    .join("; ");
  return (
    `${file}: ${r.cases} cases, ${r.epochs} epochs, ${r.proposals} proposals matched byte-for-byte; ` +
    `${r.groupInfoBootstraps} GroupInfo bootstraps; skipped ${r.skipped} cases${reasons ? ` (${reasons})` : ""}, ` +
    `${r.skippedEpochs} private-handshake epochs; ${r.divergences.length} divergences`
  );
}
