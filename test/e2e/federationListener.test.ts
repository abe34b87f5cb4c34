// draft-kohbrok-mimi-moh deployment: the provider's main listener stays on loopback behind the
// gateway, and a separate federation listener serves only what other providers reach directly
// (/deliver_message, /verification_key). A peer at that listener can reach nothing else.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type RoleProcess, startRole } from "../../src/cli/processes.js";
import { VerificationKeyResponse } from "../../src/protocol/VerificationKeyResponse.js";
import { DSFanoutResponse } from "../../src/protocol/DSFanoutResponse.js";
import { DSFanoutResponseType } from "../../src/protocol/QsConstants.js";
import { QSErrorCode } from "../../src/protocol/QsErrors.js";

describe("provider --federation-listen: a listener for federated providers only", () => {
  let dir: string;
  let p: RoleProcess;
  let federation: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "mimi-fedlisten-"));
    p = await startRole("provider", ["provider", "--listen", "127.0.0.1:0", "--federation-listen", "127.0.0.1:0", "--domain", "a.test", "--data-dir", join(dir, "p")]);
    const m = /provider federation on (\S+)/.exec(p.banner);
    assert.ok(m, "the provider prints its federation URL");
    federation = m[1]!;
  });
  after(async () => {
    assert.equal(await p.stop(), 0);
    await rm(dir, { recursive: true, force: true });
  });

  it("serves /verification_key (the same keys as the main listener) and /deliver_message", async () => {
    const viaFed = new Uint8Array(await (await fetch(`${federation}/verification_key`)).arrayBuffer());
    const viaMain = new Uint8Array(await (await fetch(`${p.url}/verification_key`)).arrayBuffer());
    assert.deepEqual(viaFed, viaMain);
    assert.equal(VerificationKeyResponse.deserialize(viaFed).keys.length, 1);
    // a malformed fanout gets the QS's typed answer, so the route is live
    const r = await fetch(`${federation}/deliver_message`, { method: "POST", headers: { "content-type": "application/octet-stream" }, body: Uint8Array.of(1, 2, 3) });
    assert.equal(r.status, 200);
    const res = DSFanoutResponse.deserialize(new Uint8Array(await r.arrayBuffer()));
    assert.ok(res.body.type === DSFanoutResponseType.error && res.body.code === QSErrorCode.malformed);
  });

  it("answers 404 for every client endpoint (they are reached only through relay and gateway)", async () => {
    for (const path of ["/group_operation", "/welcome_information", "/external_commit_information", "/queue_operation", "/key_packages", "/group_key_packages", "/connection_key_packages", "/connection_request", "/identifier_query"]) {
      const r = await fetch(`${federation}${path}`, { method: "POST", headers: { "content-type": "application/octet-stream" }, body: Uint8Array.of(0) });
      assert.equal(r.status, 404, path);
      await r.arrayBuffer();
    }
    for (const path of ["/.well-known/mimi-protocol-directory", "/admin/tokens", "/metrics"]) {
      const r = await fetch(`${federation}${path}`);
      assert.equal(r.status, 404, path);
      await r.arrayBuffer();
    }
  });
});
