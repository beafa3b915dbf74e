import assert from "node:assert/strict";
import { test } from "../harness.ts";
import { expectStrictEqual } from "../support/expect.ts";
import { deepUnwrap, readTag, tagObject, wrap } from "../../lib/provenance.ts";

const pod = () => ({ metadata: { name: "web-1", labels: { app: "web" } }, status: { phase: "Running", created: new Date(0) }, items: [{ n: 1 }] });

test("wrap: primitive leaves stay plain values", () => {
  const w = wrap(pod(), 7);
  assert.equal(w.status.phase, "Running");
  assert.equal(typeof w.metadata.name, "string");
});

test("wrap: objects at every depth carry the tag and unwrap()", () => {
  const raw = pod();
  const w = wrap(raw, 7);
  assert.equal(readTag(w)?.sourceSeq, 7);
  assert.equal(readTag(w.metadata.labels)?.sourceSeq, 7);
  assert.equal(readTag(w.items[0])?.sourceSeq, 7);
  assert.equal(w.unwrap(), raw);
  assert.equal(w.metadata.unwrap(), raw.metadata);
});

test("wrap: identity is stable and structure compares equal to the plain value", () => {
  const w = wrap(pod(), 1);
  assert.equal(w.metadata, w.metadata);
  assert.deepEqual(JSON.parse(JSON.stringify(w)), JSON.parse(JSON.stringify(pod())));
  assert.deepEqual(w.items.map((i) => i.n), [1]);
});

test("wrap: Dates are left as they are (their methods keep working)", () => {
  const w = wrap(pod(), 1);
  assert.equal(w.status.created.getTime(), 0);
});

test("wrap: no tag when there is no sequence number, but unwrap() still works", () => {
  const raw = { a: 1 };
  const w = wrap(raw);
  assert.equal(readTag(w)?.sourceSeq, undefined);
  assert.equal(w.unwrap(), raw);
});

test("a wrapped value is the plain value itself: wrap returns its argument and unwrap() the object", () => {
  const raw = { a: { b: 2 } };
  const w = wrap(raw, 3);
  assert.equal(w, raw);
  assert.equal(w.unwrap(), raw);
  assert.equal(w.a.unwrap(), raw.a);
  assert.equal(wrap(5), 5);
});

test("deepUnwrap strips wrappers nested inside plain objects and arrays", () => {
  const w = wrap(pod(), 2);
  const mixed = { spec: w.metadata, list: [w.items[0]], name: w.metadata.name };
  const out = deepUnwrap(mixed);
  assert.equal(readTag(out.spec), undefined);
  assert.equal(readTag(out.list[0]), undefined);
  assert.deepEqual(out, { spec: pod().metadata, list: [{ n: 1 }], name: "web-1" });
});

test("tagObject tags without touching properties", () => {
  const res = new Response("x");
  assert.equal(tagObject(res, { sourceSeq: 9 }), res);
  assert.equal(readTag(res)?.sourceSeq, 9);
});

test("wrapped results compare as plain data: deep-strict equality ignores unwrap()", () => {
  const cm = wrap({ metadata: { name: "c" }, data: { x: "1" }, list: [{ a: 1 }] }, 4);
  assert.deepStrictEqual(cm.data, { x: "1" });
  assert.deepStrictEqual(cm.list, [{ a: 1 }]);
  assert.deepStrictEqual(cm, { metadata: { name: "c" }, data: { x: "1" }, list: [{ a: 1 }] });
  assert.deepEqual(Object.keys(cm), ["metadata", "data", "list"]);
  // The runtime's own matcher (bun:test's expect under Bun; node:assert under Deno).
  expectStrictEqual(cm.data, { x: "1" });
  expectStrictEqual(cm.list, [{ a: 1 }]);
});

test("structuredClone copies a wrapped result as plain data, without tags", () => {
  const cm = wrap({ metadata: { name: "c", labels: { a: "b" } }, data: { x: "1" }, when: new Date(5) }, 4);
  const copy = structuredClone(cm);
  assert.deepStrictEqual(copy, { metadata: { name: "c", labels: { a: "b" } }, data: { x: "1" }, when: new Date(5) });
  assert.equal(readTag(copy), undefined);
  assert.equal((copy as { unwrap?: unknown }).unwrap, undefined);
  expectStrictEqual(copy.data, { x: "1" });
});

test("wrap: class instances keep their prototype; cycles do not loop", () => {
  class V1Thing {
    name = "t";
    self?: unknown;
  }
  const t = new V1Thing();
  t.self = t;
  const w = wrap(t, 8);
  assert.ok(w instanceof V1Thing);
  assert.equal(readTag(w.self as object)?.sourceSeq, 8);
});
