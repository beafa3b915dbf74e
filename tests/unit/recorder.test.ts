import assert from "node:assert/strict";
import { createServer } from "node:http";
import { test } from "../harness.ts";
import { readTag } from "../../lib/provenance.ts";
import { describeEvent, Recorder } from "../../lib/recorder.ts";

test("recorder: begin/end/annotate render a kube timeline line", () => {
  const r = new Recorder();
  const seq = r.begin("get", "https://127.0.0.1:1/api/v1/namespaces/kube-system/pods");
  r.end(seq, { status: 200 });
  r.annotate(seq, { kind: "kube", verb: "list", resource: "pods", namespace: "kube-system" });
  assert.match(r.timeline(), /^list pods · kube-system 200 \d+ms$/);
  assert.equal(r.events()[0].method, "GET");
});

test("recorder: namespaced name, subresource and cluster-scoped lines", () => {
  const base = { seq: 1, kind: "kube" as const, method: "POST", url: "u", startedAtMs: 0, status: 201, durationMs: 12 };
  assert.equal(describeEvent({ ...base, kube: { verb: "create", resource: "deployments", namespace: "default", name: "hello" } }), "create deployments · default/hello 201 12ms");
  assert.equal(describeEvent({ ...base, kube: { verb: "get", resource: "pods", subresource: "log", namespace: "ns", name: "p" } }), "get pods/log · ns/p 201 12ms");
  assert.equal(describeEvent({ ...base, kube: { verb: "list", resource: "nodes" } }), "list nodes 201 12ms");
});

test("recorder: remove retracts an event; events() is a copy", () => {
  const r = new Recorder();
  const a = r.begin("GET", "https://x/apis");
  const b = r.begin("GET", "https://x/version");
  r.remove(a);
  const evs = r.events();
  assert.deepEqual(evs.map((e) => e.seq), [b]);
  evs[0].url = "changed";
  assert.equal(r.events()[0].url, "https://x/version");
});

test("recorder: a failed request is recorded with its error", () => {
  const r = new Recorder();
  const s = r.begin("GET", "https://x/");
  r.end(s, { error: "connection refused" });
  assert.match(r.timeline(), /^GET https:\/\/x\/ failed: connection refused \d+ms$/);
});

test("recorder.fetch records a real HTTP call and tags the Response", async () => {
  const server = createServer((_req, res) => res.writeHead(204).end());
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  try {
    const r = new Recorder();
    const res = await r.fetch()(`http://127.0.0.1:${port}/ping`, { method: "POST" });
    assert.equal(res.status, 204);
    const [ev] = r.events();
    assert.equal(readTag(res)?.sourceSeq, ev.seq);
    assert.equal(ev.method, "POST");
    assert.equal(ev.status, 204);
    assert.ok(ev.durationMs !== undefined && ev.durationMs >= 0);
  } finally {
    await new Promise((r) => server.close(r));
  }
});

test("recorder.fetch records a transport failure and rethrows", async () => {
  const r = new Recorder();
  await assert.rejects(r.fetch(() => Promise.reject(new Error("boom")))("http://127.0.0.1:9/"), /boom/);
  assert.equal(r.events()[0].error, "boom");
});

test("recorder: a ring buffer of the newest maxEvents; the timeline says how many were dropped", () => {
  const r = new Recorder(3);
  for (let i = 1; i <= 5; i++) r.end(r.begin("GET", `http://x/${i}`), { status: 200 });
  assert.deepEqual(r.events().map((e) => e.url), ["http://x/3", "http://x/4", "http://x/5"]);
  assert.equal(r.dropped, 2);
  assert.match(r.timeline(), /^\(2 earlier events dropped: the timeline keeps the newest 3\)\n/);
  assert.throws(() => new Recorder(0), /maxEvents must be a positive integer/);
});
