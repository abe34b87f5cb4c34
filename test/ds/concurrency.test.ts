// One writer per group (ARCHITECTURE s3 "Concurrency"): of many valid commits for one epoch,
// exactly one wins and every other gets wrong_epoch, on the embedded LevelDB store where reads
// and the compare-and-set write of concurrent requests really interleave.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { commitRequest } from "../../src/client/dsMember.js";
import { DSRequestType, DSResponseType } from "../../src/protocol/constants.js";
import { DSResponse } from "../../src/protocol/DSResponse.js";
import { DSErrorCode } from "../../src/protocol/errors.js";
import { LevelGroupStore } from "../../src/store/index.js";
import { drainAll, stillWorks, world } from "./kit.js";

const COMMITS = 50;

describe("concurrent commits for one epoch (ARCHITECTURE s3 \"Concurrency\")", () => {
  it(`${COMMITS} different valid update_client commits sent at once: exactly one ok, ${COMMITS - 1} wrong_epoch, epoch +1`, async () => {
    const dir = await mkdtemp(join(tmpdir(), "mimi-ds-concurrency-"));
    const store = await LevelGroupStore.open(dir);
    try {
      const w = await world({ store, members: ["bob"] }); // a1, b1, b2
      const base = w.a1.state!;
      const candidates = [];
      for (let i = 0; i < COMMITS; i++) candidates.push(await commitRequest(base, w.h.cs, { type: DSRequestType.update_client }));
      assert.equal(new Set(candidates.map((c) => Buffer.from(c.commit).toString("hex"))).size, COMMITS, "the commits all differ");
      const before = (await store.getHead(w.groupId))!;

      const results = await Promise.all(candidates.map((c) => w.h.ds.handle(c.request)));

      const bodies = results.map((r) => DSResponse.deserialize(r.response).body);
      const winners = bodies.flatMap((b, i) => (b.type === DSResponseType.ok ? [i] : []));
      const codes = bodies.flatMap((b) => (b.type === DSResponseType.error ? [DSErrorCode[b.code]] : []));
      assert.equal(winners.length, 1, `exactly one commit wins (codes: ${[...new Set(codes)].join(",")})`);
      assert.deepEqual(codes, Array(COMMITS - 1).fill("wrong_epoch"));
      for (const [i, r] of results.entries()) if (i !== winners[0]) assert.deepEqual(await r.fanout(), []);
      const after = (await store.getHead(w.groupId))!;
      assert.equal(after.epoch, before.epoch + 1n);
      assert.equal(after.version, before.version + 1);

      // The winner's commit is the group's history: members follow it and the group goes on.
      const win = candidates[winners[0]!]!;
      w.h.deliver(await results[winners[0]!]!.fanout());
      w.a1.state = win.newState;
      await drainAll(w, w.a1);
      assert.equal(w.b1.state!.groupContext.epoch, after.epoch);
      await stillWorks(w, w.b2);
      // a loser resent later is still refused (its key is stale now)
      const loser = candidates[winners[0] === 0 ? 1 : 0]!;
      await w.h.fails(loser.request, DSErrorCode.stale_or_wrong_key);
      const end = (await store.getHead(w.groupId))!;
      assert.deepEqual([end.epoch, end.version], [after.epoch, after.version]);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
