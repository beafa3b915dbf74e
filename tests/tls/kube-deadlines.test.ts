// Every API request has its own timeout and honours the operation's deadline
// and the caller's signal: waits end on time whatever the API server does.
// The server is a stand-in (tests/support/apiserver-standin.ts, a node:https
// process requiring client certificates, not a kube-apiserver), frozen with
// SIGSTOP as `docker pause` freezes a real one; the composition tier pauses
// the real node (tests/composition/faults.serial.test.ts).

import assert from "node:assert/strict";
import { test } from "../harness.ts";
import { KubeTransportError } from "../../lib/kube/http-library.ts";
import { WaitError } from "../../lib/kube/waits.ts";
import { standIn, timedFailure } from "../support/standin.ts";

/** What the issue allows beyond a deadline. (Each test's own 90 s timeout covers starting the stand-in, slow on a busy machine.) */
const SLACK_MS = 1_000;

test("rollout: a frozen API server (SIGSTOP, as docker pause) ends the wait at its deadline, naming the fault the probe reports", async () => {
  const s = await standIn();
  try {
    const h = await s.helpers({ fault: () => Promise.resolve('service "k8s": the container c1 is paused (docker pause)') });
    assert.equal((await h.client.core.listNode()).items.length, 0, "it answers while running");
    s.child.kill("SIGSTOP");
    const { err, ms } = await timedFailure(() => h.rollout("deployment/web", { timeoutMs: 1_500 }));
    assert.ok(err instanceof WaitError, `${err.name}: ${err.message}`);
    assert.ok(err.timedOut);
    assert.match(err.message, /not complete within 1\.5s/);
    assert.match(err.message, /the last request got no answer by the deadline/);
    assert.match(err.message, /the container c1 is paused \(docker pause\)/);
    assert.ok(ms < 1_500 + SLACK_MS, `ended after ${Math.round(ms)} ms, deadline 1500 ms`);
  } finally {
    await s.close();
  }
}, { timeoutMs: 90_000 });

test("waitFor: frozen from the start (discovery gets no answer) still ends at the deadline", async () => {
  const s = await standIn();
  try {
    const h = await s.helpers();
    s.child.kill("SIGSTOP");
    const { err, ms } = await timedFailure(() => h.waitFor("deployment/web", "Available", { timeoutMs: 1_200 }));
    assert.ok(err instanceof WaitError, `${err.name}: ${err.message}`);
    assert.match(err.message, /within 1\.2s/);
    assert.ok(ms < 1_200 + SLACK_MS, `ended after ${Math.round(ms)} ms, deadline 1200 ms`);
  } finally {
    await s.close();
  }
}, { timeoutMs: 90_000 });

test("a slow API server (each answer 4 s late) cannot stretch a 1.5 s wait", async () => {
  const s = await standIn(4_000);
  try {
    const h = await s.helpers();
    const { err, ms } = await timedFailure(() => h.rollout("deployment/web", { timeoutMs: 1_500 }));
    assert.ok(err instanceof WaitError, `${err.name}: ${err.message}`);
    assert.ok(ms < 1_500 + SLACK_MS, `ended after ${Math.round(ms)} ms, deadline 1500 ms`);
  } finally {
    await s.close();
  }
}, { timeoutMs: 90_000 });

test("one API call on its own: the per-request timeout ends it and says how long it waited", async () => {
  const s = await standIn();
  try {
    const h = await s.helpers({ requestTimeoutMs: 1_000 });
    s.child.kill("SIGSTOP");
    const { err, ms } = await timedFailure(() => h.client.core.listNode());
    assert.ok(err instanceof KubeTransportError, `${err.name}: ${err.message}`);
    assert.match(err.message, /did not answer within 1 s/);
    assert.ok(ms < 1_000 + SLACK_MS, `ended after ${Math.round(ms)} ms, request timeout 1000 ms`);
    assert.match(h.recorder.timeline(), /did not answer within 1 s/, "the timeline shows the failed request");
  } finally {
    await s.close();
  }
}, { timeoutMs: 90_000 });

test("the caller's signal ends a wait on a frozen API server at once", async () => {
  const s = await standIn();
  try {
    const h = await s.helpers();
    s.child.kill("SIGSTOP");
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(new Error("caller gave up")), 300);
    const { err, ms } = await timedFailure(() => h.rollout("deployment/web", { timeoutMs: 60_000, signal: ctl.signal }));
    assert.match(err.message, /caller gave up/);
    assert.ok(ms < 300 + SLACK_MS, `ended after ${Math.round(ms)} ms`);
  } finally {
    await s.close();
  }
}, { timeoutMs: 90_000 });

test("a server that is gone (killed) fails the wait at once with the transport error, not at the deadline", async () => {
  const s = await standIn();
  try {
    const h = await s.helpers();
    s.child.kill("SIGKILL");
    await new Promise((r) => s.child.once("exit", r));
    const { err, ms } = await timedFailure(() => h.rollout("deployment/web", { timeoutMs: 30_000 }));
    assert.match(err.message, /ECONNREFUSED|Connection refused|connect/i);
    assert.ok(ms < SLACK_MS, `ended after ${Math.round(ms)} ms`);
  } finally {
    await s.close();
  }
}, { timeoutMs: 90_000 });

test("wait, delete and logs timeouts are checked before any request: NaN, strings, Infinity, 0 and above setTimeout's 2^31-1 ms", async () => {
  const s = await standIn();
  try {
    const h = await s.helpers();
    for (const bad of [NaN, "1000", Infinity, 0, -5, 2 ** 31, 1e10]) {
      const calls = [
        () => h.rollout("deployment/web", { timeoutMs: bad as number }),
        () => h.waitFor("deployment/web", "Available", { timeoutMs: bad as number }),
        // An object held by a finalizer would make delete's wait endless with NaN: refused before anything is deleted.
        () => h.delete({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "web", namespace: "default" } }, { timeoutMs: bad as number }),
        () => h.logs("web", { timeoutMs: bad as number }),
      ];
      for (const call of calls) {
        const err = await call().then(() => assert.fail(`${String(bad)} accepted`), (e: unknown) => e as Error);
        assert.ok(err instanceof TypeError, `${String(bad)}: ${err.name}: ${err.message}`);
        assert.match(err.message, /option "timeoutMs" must be a positive, finite number of milliseconds no larger than 2147483647/);
        assert.ok(err.message.endsWith(`got ${typeof bad === "string" ? `"${bad}"` : Number.isNaN(bad) ? "NaN" : String(bad)}`), err.message);
      }
    }
    assert.equal(h.recorder.events().length, 0, "nothing was sent");
  } finally {
    await s.close();
  }
}, { timeoutMs: 90_000 });

test("apply checks every document before sending any: a kind the server does not serve in document 2 leaves document 1 unsent", async () => {
  const s = await standIn();
  try {
    const h = await s.helpers();
    const err = await h.apply([
      { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "web", namespace: "default" }, spec: {} },
      { apiVersion: "apps/v1", kind: "Widget", metadata: { name: "w", namespace: "default" } },
    ]).then(() => assert.fail("must reject"), (e: Error) => e);
    assert.match(err.message, /^apply: document 2 \(Widget default\/w\): kind Widget in group apps is not served/);
    assert.deepEqual(h.recorder.events().filter((e) => e.method !== "GET").map((e) => `${e.method} ${e.url}`), [], "nothing was written");
  } finally {
    await s.close();
  }
}, { timeoutMs: 90_000 });

test("close() with a frozen API server gives up on its namespaces within 5 s + 1 s (teardown is not held for a request timeout each)", async () => {
  const s = await standIn();
  try {
    const h = await s.helpers();
    await h.namespace("a");
    await h.namespace("b");
    s.child.kill("SIGSTOP");
    const t0 = performance.now();
    await h.close().then(() => assert.fail("the deletions cannot succeed"), () => {});
    const ms = performance.now() - t0;
    assert.ok(ms < 5_000 + SLACK_MS, `close took ${Math.round(ms)} ms`);
    assert.equal(h.recorder.events().filter((e) => e.method === "DELETE").length, 2, "both deletions were tried");
  } finally {
    await s.close();
  }
}, { timeoutMs: 90_000 });
