// `mimi-ds conformance`: the differential run of the DS engine against the MLS passive-client
// vectors, as an operator runs it. Exit 0 with a summary when the engine and the ts-mls oracle
// agree on every case; non-zero, naming the divergence, when a vector's commit is tampered with.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { cliArgv, repoRoot, vectorPath } from "../helpers/repo.js";

const run = promisify(execFile);

interface Case {
  cipher_suite: number;
  epochs: { proposals: string[]; commit: string; epoch_authenticator: string }[];
}

async function conformance(...files: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [...cliArgv(), "conformance", ...files], { cwd: repoRoot(), timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof x.code === "number" ? x.code : -1, stdout: x.stdout ?? "", stderr: x.stderr ?? "" };
  }
}

describe("mimi-ds conformance (engine vs ts-mls oracle on MLS passive-client vectors)", () => {
  let dir: string;
  let good: string;
  let tampered: string;
  // the three runs start together (each is a separate process) and the tests await them
  let runs: { welcome: ReturnType<typeof conformance>; good: ReturnType<typeof conformance>; tampered: ReturnType<typeof conformance>; missing: ReturnType<typeof conformance> };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "mimi-ds-conformance-"));
    // three small cases with PublicMessage commits (cipher suite 1), as they are ...
    const all = JSON.parse(await readFile(vectorPath("mls", "passive-client-handling-commit.json"), "utf8")) as Case[];
    const picked = all.filter((c) => c.cipher_suite === 1 && c.epochs.length > 0 && c.epochs.every((e) => e.commit.slice(4, 8) === "0001")).slice(0, 3);
    assert.equal(picked.length, 3);
    good = join(dir, "good.json");
    await writeFile(good, JSON.stringify(picked));
    // ... and with one byte of the first case's first commit changed
    const bad = structuredClone(picked);
    const commit = bad[0]!.epochs[0]!.commit;
    const at = commit.length - 2; // the last byte: inside the authenticated part of the PublicMessage
    bad[0]!.epochs[0]!.commit = commit.slice(0, at) + (parseInt(commit.slice(at), 16) ^ 0x01).toString(16).padStart(2, "0");
    assert.notEqual(bad[0]!.epochs[0]!.commit, commit);
    tampered = join(dir, "tampered.json");
    await writeFile(tampered, JSON.stringify(bad));
    runs = { welcome: conformance("test/vectors/mls/passive-client-welcome.json"), good: conformance(good), tampered: conformance(tampered), missing: conformance(join(dir, "nope.json")) };
    await Promise.allSettled(Object.values(runs));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("passes the passive-client-welcome vectors and a filtered handling-commit file: exit 0, cases counted, 0 divergences", async () => {
    const [welcome, commits] = await Promise.all([runs.welcome, runs.good]);
    assert.equal(welcome.code, 0, welcome.stdout + welcome.stderr);
    assert.match(welcome.stdout, /passive-client-welcome\.json: [1-9]\d* cases,/);
    assert.match(welcome.stdout, /; 0 divergences$/m);
    assert.doesNotMatch(welcome.stdout, /divergence:/);
    assert.equal(commits.code, 0, commits.stdout + commits.stderr);
    assert.match(commits.stdout, /: 3 cases, 6 epochs, \d+ proposals matched byte-for-byte;/);
    assert.match(commits.stdout, /; 0 divergences$/m);
  });

  it("exits non-zero and names the divergence when a commit of a vector is tampered with", async () => {
    const r = await runs.tampered;
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /; 1 divergences$/m);
    assert.match(r.stdout, /divergence: case 0 \(suite 1\) epoch 0: /);
    // the other cases of the file still ran and matched
    assert.match(r.stdout, /: 3 cases, 4 epochs,/);
  });

  it("exits 2 for a missing file", async () => {
    const r = await runs.missing;
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no such file/);
  });
});
