import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { ReplayFilter } from "../../gateway/ReplayFilter.js";

describe("gateway replay defence (RFC 9458 s6.5)", () => {
  it("refuses a repeated enc for the same key and accepts it for another key", () => {
    const f = new ReplayFilter(1000);
    const enc = randomBytes(32);
    assert.equal(f.seen(1, enc), false);
    assert.equal(f.checkAndRecord(1, enc), false);
    assert.equal(f.seen(1, enc), true);
    assert.equal(f.checkAndRecord(1, enc), true);
    assert.equal(f.seen(2, enc), false);
  });

  it("has no false positives over many fresh values below capacity", () => {
    const f = new ReplayFilter(20000);
    for (let i = 0; i < 20000; i++) assert.equal(f.checkAndRecord(7, randomBytes(32)), false);
  });

  it("remembers a full previous generation, then forgets the oldest (bounded memory)", () => {
    const f = new ReplayFilter(100);
    const first = randomBytes(32);
    f.checkAndRecord(1, first);
    for (let i = 0; i < 150; i++) f.checkAndRecord(1, randomBytes(32));
    assert.equal(f.seen(1, first), true, "still remembered one generation later");
    const mem = f.memoryBytes;
    for (let i = 0; i < 200; i++) f.checkAndRecord(1, randomBytes(32));
    assert.equal(f.seen(1, first), false, "forgotten after two generations");
    assert.ok(f.evictions >= 1);
    assert.equal(f.memoryBytes, mem, "memory does not grow past two generations");
  });

  it("drops the state of retired keys", () => {
    const f = new ReplayFilter(100);
    const enc = randomBytes(32);
    f.checkAndRecord(1, enc);
    f.checkAndRecord(2, enc);
    f.retainOnly([2]);
    assert.equal(f.seen(1, enc), false);
    assert.equal(f.seen(2, enc), true);
  });
});
