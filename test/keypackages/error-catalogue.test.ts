// Error catalogue of the KeyPackage directory (COMMON.md: bad input always gets a clear typed
// error): every KeyPackageStatus is reached through the public API, both as the thrown
// KeyPackageError subclass and as the wire status of the handler's response, with the offending
// entry's index; and every refusal leaves the pools as they were.
import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { defaultCapabilities, generateKeyPackage, type Capabilities, type Extension, type Lifetime } from "ts-mls";
import { PROFILE_EXTENSIONS } from "../../src/client/dsMember.js";
import { keyPackageMessage, keyPackageTransaction, lifetimeFor, signUpload, type KeyPackageDirectory, type UploadItem } from "../../src/keypackages/index.js";
import { encodeClientQueueConfig } from "../../src/protocol/ClientQueueConfig.js";
import { EXTENSION_TYPE_QUEUE_CONFIG } from "../../src/protocol/constants.js";
import { KeyPackageStatus, NO_ENTRY_INDEX } from "../../src/protocol/KeyPackageConstants.js";
import {
  BadKeyPackageSignatureError,
  DuplicateKeyPackageError,
  InvalidKeyPackageError,
  InvalidQueueConfigError,
  KEY_PACKAGE_ERRORS,
  KeyPackageError,
  KeyPackageExpiredError,
  KeyPackageMalformedError,
  KeyPackageTemporarilyUnavailableError,
  KeyPackageUnsupportedVersionError,
  LifetimeTooLongError,
  MissingQueueConfigCapabilityError,
  MissingQueueConfigError,
  MultipleLastResortError,
  NotYetValidError,
  StaleSequenceError,
  TooManyKeyPackagesError,
  TooManyRequestsError,
  UnsupportedCiphersuiteError,
  UploadUnauthorizedError,
} from "../../src/protocol/KeyPackageErrors.js";
import { KeyPackageTransactionResponse } from "../../src/protocol/KeyPackageTransactionResponse.js";
import { KeyPackageUploadResponse } from "../../src/protocol/KeyPackageUploadResponse.js";
import { generateEd25519 } from "../../src/util/keygen.js";
import { ADAPTERS, Clock, DAY, SUITE, group, newKeyPackages, openDirectory, queueConfig, register, suite, te, uploadBytes, type TestClient } from "./kpFixtures.js";

type Ctor = new (...a: never[]) => KeyPackageError;

/** A KeyPackage signed correctly but with one property changed, to reach one specific check. */
async function customKeyPackage(
  clock: Clock,
  mod: { caps?: (c: Capabilities) => void; leafExt?: Extension[]; lifetime?: Lifetime } = {},
): Promise<Uint8Array> {
  const caps = defaultCapabilities();
  caps.extensions = [...new Set([...caps.extensions, ...PROFILE_EXTENSIONS])];
  mod.caps?.(caps);
  const leafExt = mod.leafExt ?? [{ extensionType: EXTENSION_TYPE_QUEUE_CONFIG, extensionData: encodeClientQueueConfig(queueConfig()) }];
  const kp = await generateKeyPackage({ credentialType: "basic", identity: te.encode("pseudonym") }, caps, mod.lifetime ?? lifetimeFor(clock.ms, 7 * DAY), [], await suite(), leafExt);
  return keyPackageMessage(kp.publicPackage);
}

const seen = new Set<KeyPackageStatus>();

/** Asserts the typed error from upload() and the same status (and index) from handleUpload(). */
async function refusesUpload(dir: KeyPackageDirectory, bytes: Uint8Array, cls: Ctor, code: KeyPackageStatus, index = NO_ENTRY_INDEX) {
  await assert.rejects(dir.upload(bytes), (e: unknown) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
    assert.equal(e.code, code);
    assert.equal(e.reason, KeyPackageStatus[code]);
    assert.equal(e.entryIndex, index);
    return true;
  });
  const r = KeyPackageUploadResponse.deserialize(await dir.handleUpload(bytes));
  assert.equal(r.status, code);
  assert.equal(r.entryIndex, index);
  assert.ok(r.toError() instanceof cls);
  seen.add(code);
}

async function refusesClaim(dir: KeyPackageDirectory, bytes: Uint8Array, code: KeyPackageStatus) {
  const r = KeyPackageTransactionResponse.deserialize(await dir.handleKeyPackageRequest(bytes));
  assert.equal(r.status, code);
  assert.equal(r.users.length, 0);
  const rc = KeyPackageTransactionResponse.deserialize(await dir.handleConnectionKeyPackageRequest(bytes));
  assert.equal(rc.status, code);
  seen.add(code);
}

describe("error catalogue: every KeyPackageStatus has one typed error and is reachable", () => {
  it("upload refusals name the failing entry and change nothing", async () => {
    const env = await openDirectory(ADAPTERS[1]!, { maxKeyPackagesPerUpload: 4, maxKeyPackagesPerPool: 3 });
    const { dir, clock } = env;
    try {
      const c = await register(dir, "bob", "phone");
      const good = await newKeyPackages(clock, 6);
      const up = (items: UploadItem[], seq?: bigint) => uploadBytes(c, items, seq);
      const unchanged = async () => assert.deepEqual(await dir.counts(c.userId, c.clientId), { group: 0, connection: 0, groupLastResort: false, connectionLastResort: false });

      await refusesUpload(dir, Uint8Array.of(0, 1, 0xff, 0xff), KeyPackageMalformedError, KeyPackageStatus.malformed);
      const valid = up([group(good[0]!)]);
      await refusesUpload(dir, valid.subarray(0, valid.length - 3), KeyPackageMalformedError, KeyPackageStatus.malformed);
      await refusesUpload(dir, Uint8Array.from([0, 2, ...valid.subarray(2)]), KeyPackageUnsupportedVersionError, KeyPackageStatus.unsupported_version);

      // unknown client and bad signature: one code and byte-identical answers
      const stranger: TestClient = { userId: te.encode("bob"), clientId: te.encode("ghost"), key: generateEd25519(), sequence: 0n };
      const wrongKey: TestClient = { ...c, key: generateEd25519(), sequence: 100n };
      await refusesUpload(dir, uploadBytes(stranger, [group(good[0]!)]), UploadUnauthorizedError, KeyPackageStatus.unauthorized);
      await refusesUpload(dir, uploadBytes(wrongKey, [group(good[0]!)]), UploadUnauthorizedError, KeyPackageStatus.unauthorized);
      assert.deepEqual(await dir.handleUpload(uploadBytes(stranger, [])), await dir.handleUpload(uploadBytes(wrongKey, [])));
      await unchanged();

      await refusesUpload(dir, up(good.slice(0, 5).map((k) => group(k))), TooManyKeyPackagesError, KeyPackageStatus.too_many_key_packages);

      const kpCases: [string, Promise<Uint8Array>, Ctor, KeyPackageStatus][] = [
        ["inverted lifetime", customKeyPackage(clock, { lifetime: { notBefore: BigInt(clock.ms / 1000) + 100n, notAfter: BigInt(clock.ms / 1000) + 50n } }), InvalidKeyPackageError, KeyPackageStatus.invalid_key_package],
        ["credential type not in capabilities", customKeyPackage(clock, { caps: (cp) => (cp.credentials = ["x509"]) }), InvalidKeyPackageError, KeyPackageStatus.invalid_key_package],
        ["expired", customKeyPackage(clock, { lifetime: { notBefore: 0n, notAfter: BigInt(clock.ms / 1000) } }), KeyPackageExpiredError, KeyPackageStatus.key_package_expired],
        ["not_after too far ahead", customKeyPackage(clock, { lifetime: lifetimeFor(clock.ms, 91 * DAY) }), LifetimeTooLongError, KeyPackageStatus.key_package_lifetime_too_long],
        ["never-ending defaultLifetime (makeKeyPackage)", customKeyPackage(clock, { lifetime: { notBefore: 0n, notAfter: 9223372036854775807n } }), LifetimeTooLongError, KeyPackageStatus.key_package_lifetime_too_long],
        ["not_before in the future", customKeyPackage(clock, { lifetime: { notBefore: BigInt(clock.ms / 1000) + 3600n, notAfter: BigInt(clock.ms / 1000) + 7200n } }), NotYetValidError, KeyPackageStatus.key_package_not_yet_valid],
        ["no queue-config capability", customKeyPackage(clock, { caps: (cp) => (cp.extensions = cp.extensions.filter((x) => x !== EXTENSION_TYPE_QUEUE_CONFIG)) }), MissingQueueConfigCapabilityError, KeyPackageStatus.missing_queue_config_capability],
        ["no queue-config extension", customKeyPackage(clock, { leafExt: [] }), MissingQueueConfigError, KeyPackageStatus.missing_queue_config],
        ["undecodable queue config", customKeyPackage(clock, { leafExt: [{ extensionType: EXTENSION_TYPE_QUEUE_CONFIG, extensionData: Uint8Array.of(3, 0x2e, 0x2e) }] }), InvalidQueueConfigError, KeyPackageStatus.invalid_queue_config],
        [
          "bad signature",
          customKeyPackage(clock).then((b) => {
            const t = b.slice();
            t[t.length - 1]! ^= 1;
            return t;
          }),
          BadKeyPackageSignatureError,
          KeyPackageStatus.bad_key_package_signature,
        ],
      ];
      for (const [what, bad, cls, code] of kpCases) {
        await refusesUpload(dir, up([group(good[0]!), group(await bad)]), cls, code, 1).catch((e: Error) => {
          throw new Error(`${what}: ${e.message}`);
        });
      }

      await refusesUpload(dir, up([group(good[0]!), group(good[1]!), group(good[0]!)]), DuplicateKeyPackageError, KeyPackageStatus.duplicate_key_package, 2);
      await refusesUpload(dir, up([group(good[0]!, true), group(good[1]!, true)]), MultipleLastResortError, KeyPackageStatus.multiple_last_resort, 1);
      await unchanged();

      // against stored state: duplicates (either pool), pool capacity, replayed sequence
      const seq = c.sequence + 1n;
      assert.equal((await dir.handleUpload(up([group(good[0]!), group(good[1]!)], seq))).length, 12);
      c.sequence = seq;
      await refusesUpload(dir, up([group(good[2]!), { pool: 1, keyPackage: good[0]! }]), DuplicateKeyPackageError, KeyPackageStatus.duplicate_key_package, 1);
      await refusesUpload(dir, up([group(good[2]!), group(good[3]!)]), TooManyKeyPackagesError, KeyPackageStatus.too_many_key_packages);
      await refusesUpload(dir, up([group(good[2]!)], seq), StaleSequenceError, KeyPackageStatus.stale_sequence);
      assert.deepEqual(await dir.counts(c.userId, c.clientId), { group: 2, connection: 0, groupLastResort: false, connectionLastResort: false });

      // claim-side refusals of a whole transaction
      const { token } = await dir.mintToken("bob");
      await refusesClaim(dir, Uint8Array.of(1), KeyPackageStatus.malformed);
      await refusesClaim(dir, keyPackageTransaction(Array.from({ length: 40 }, () => ({ userId: te.encode("bob"), token })), SUITE), KeyPackageStatus.too_many_requests);
      assert.equal((await dir.counts(c.userId, c.clientId))?.group, 2);
      await assert.rejects(dir.claim(Uint8Array.of(1), 0), KeyPackageMalformedError);
      await assert.rejects(dir.claim(keyPackageTransaction(Array.from({ length: 40 }, () => ({ userId: te.encode("bob"), token })), SUITE), 0), TooManyRequestsError);

      // the store failing: temporarily_unavailable, never a crash
      await env.store.close();
      await refusesUpload(dir, up([group(good[4]!)]), KeyPackageTemporarilyUnavailableError, KeyPackageStatus.temporarily_unavailable);
      await refusesClaim(dir, keyPackageTransaction([{ userId: te.encode("bob"), token }], SUITE), KeyPackageStatus.temporarily_unavailable);
    } finally {
      await env.close();
    }
  });

  it("a provider without the cipher suite refuses it", async () => {
    const env = await openDirectory(ADAPTERS[0]!, { supportedCipherSuites: [3] });
    try {
      const c = await register(env.dir, "bob", "phone");
      const kp = await newKeyPackages(env.clock, 1);
      await refusesUpload(env.dir, uploadBytes(c, [group(kp[0]!)]), UnsupportedCiphersuiteError, KeyPackageStatus.unsupported_ciphersuite, 0);
    } finally {
      await env.close();
    }
  });

  it("the catalogue is complete: each status has its own class and reason, and every one was reached", () => {
    const codes = Object.values(KeyPackageStatus).filter((v): v is KeyPackageStatus => typeof v === "number" && v !== KeyPackageStatus.ok);
    const classes = new Set<unknown>();
    for (const code of codes) {
      const Cls = KEY_PACKAGE_ERRORS[code as Exclude<KeyPackageStatus, KeyPackageStatus.ok>];
      assert.ok(Cls, `no class for ${KeyPackageStatus[code]}`);
      const e = new Cls("x");
      assert.ok(e instanceof KeyPackageError);
      assert.equal(e.code, code);
      assert.equal(e.reason, KeyPackageStatus[code]);
      classes.add(Cls);
    }
    assert.equal(classes.size, codes.length, "one class per status");
    assert.deepEqual(
      codes.filter((c) => !seen.has(c)).map((c) => KeyPackageStatus[c]),
      [],
      "statuses never reached through the API",
    );
  });
});

it("signUpload output is what the directory verifies (round trip through a fresh key)", async () => {
  const env = await openDirectory(ADAPTERS[0]!);
  try {
    const key = generateEd25519();
    await env.dir.registerClient("u", "c", key.publicKey);
    const kp = await newKeyPackages(env.clock, 1);
    const bytes = signUpload({ userId: te.encode("u"), clientId: te.encode("c"), sequence: 5n, items: [group(kp[0]!)], privateKey: key.privateKey, publicKey: key.publicKey });
    assert.deepEqual((await env.dir.upload(bytes)).group, 1);
    assert.equal(SUITE, 1);
  } finally {
    await env.close();
  }
});
