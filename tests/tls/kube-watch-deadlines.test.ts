// client.watch() never hangs: a silent stream whose API server stops
// answering ends with a WatchStalledError naming the path, the silence and
// the container's fault; a quiet stream on a live server goes on; the
// caller's signal and timeoutSeconds are kept within a second. The server is
// the stand-in (tests/support/apiserver-standin.ts, a node:https process
// requiring client certificates, not a kube-apiserver), frozen with SIGSTOP
// as `docker pause` freezes a real one.

import assert from "node:assert/strict";
import { test } from "../harness.ts";
import { type WatchEvent, WatchStalledError } from "../../lib/kube/watch.ts";
import { KubeTransportError } from "../../lib/kube/http-library.ts";
import { standIn, timedFailure } from "../support/standin.ts";

/** What the issue allows beyond a deadline. (Each test's 90 s timeout covers starting the stand-in, slow on a busy machine.) */
const SLACK_MS = 1_000;
const PODS = "/api/v1/namespaces/default/pods";
const PAUSED = 'service "k8s": the container c1 is paused (docker pause)';

/** Resolves with the first event, once it arrives. */
function firstEvent(): { seen: Promise<WatchEvent>; onEvent: (e: WatchEvent) => void; events: WatchEvent[] } {
  const events: WatchEvent[] = [];
  let resolve!: (e: WatchEvent) => void;
  const seen = new Promise<WatchEvent>((r) => (resolve = r));
  return { seen, events, onEvent: (e) => void (events.push(e), resolve(e)) };
}

test("watch: the stand-in API server frozen (SIGSTOP) mid-watch ends it after idleTimeoutMs and a failed liveness check, naming the path, the silence and the fault", async () => {
  const s = await standIn();
  try {
    const h = await s.helpers({ fault: () => Promise.resolve(PAUSED) });
    const ev = firstEvent();
    const t0 = performance.now();
    const watching = timedFailure(() => h.client.watch(PODS, ev.onEvent, { idleTimeoutMs: 1_000, timeoutSeconds: 60 }));
    assert.equal((await ev.seen).type, "ADDED");
    s.child.kill("SIGSTOP");
    const { err } = await watching;
    const ms = performance.now() - t0;
    assert.ok(err instanceof WatchStalledError, `${err.name}: ${err.message}`);
    assert.match(err.message, new RegExp(`^watch ${PODS}: no event or byte for 1 s and the API server did not answer a liveness check \\(GET /version\\) within 1 s; nothing arrived for \\d+\\.\\d s: ${PAUSED.replace(/[()]/g, "\\$&")}$`));
    assert.ok(err.silentMs >= 1_900, `silent ${err.silentMs} ms: idle 1 s, then a 1 s liveness check`);
    assert.equal(ev.events.length, 1);
    // idle 1 s + liveness check 1 s + fault probe, from the last byte (at most the start)
    assert.ok(ms < 2_000 + SLACK_MS, `ended after ${Math.round(ms)} ms`);
  } finally {
    await s.close();
  }
}, { timeoutMs: 90_000 });

test("watch: a quiet stream on a live stand-in API server outlasts idleTimeoutMs (the liveness check answers) and ends normally at timeoutSeconds", async () => {
  const s = await standIn();
  try {
    const h = await s.helpers();
    const ev = firstEvent();
    const t0 = performance.now();
    await h.client.watch(PODS, ev.onEvent, { idleTimeoutMs: 400, timeoutSeconds: 2 });
    const ms = performance.now() - t0;
    assert.equal(ev.events.length, 1, "the one event, then silence");
    assert.ok(ms >= 1_900, `ended after ${Math.round(ms)} ms: the server ends it at 2 s, not the client at 0.4 s`);
    assert.ok(ms < 2_000 + SLACK_MS, `ended after ${Math.round(ms)} ms`);
  } finally {
    await s.close();
  }
}, { timeoutMs: 90_000 });

test("watch: the stand-in API server frozen, timeoutSeconds is kept within 1 s (a WatchStalledError saying the server did not end it)", async () => {
  const s = await standIn();
  try {
    const h = await s.helpers({ fault: () => Promise.resolve(PAUSED) });
    const ev = firstEvent();
    const t0 = performance.now();
    const watching = timedFailure(() => h.client.watch(PODS, ev.onEvent, { timeoutSeconds: 2 })); // idle default 30 s: the deadline comes first
    await ev.seen;
    s.child.kill("SIGSTOP");
    const { err } = await watching;
    const ms = performance.now() - t0;
    assert.ok(err instanceof WatchStalledError, `${err.name}: ${err.message}`);
    assert.match(err.message, new RegExp(`^watch ${PODS}: the API server did not end the watch at its timeoutSeconds \\(2 s\\); nothing arrived for \\d\\.\\d s: `));
    assert.equal(err.fault, PAUSED);
    assert.ok(ms < 2_000 + SLACK_MS, `ended after ${Math.round(ms)} ms, timeoutSeconds 2`);
  } finally {
    await s.close();
  }
}, { timeoutMs: 90_000 });

test("watch: frozen before the watch is sent (no response at all), the idle check still ends it", async () => {
  const s = await standIn();
  try {
    const h = await s.helpers();
    s.child.kill("SIGSTOP");
    const { err, ms } = await timedFailure(() => h.client.watch(PODS, () => {}, { idleTimeoutMs: 800 }));
    assert.ok(err instanceof WatchStalledError, `${err.name}: ${err.message}`);
    assert.match(err.message, /no event or byte for 0\.8 s/);
    assert.ok(ms < 1_600 + SLACK_MS, `ended after ${Math.round(ms)} ms`);
  } finally {
    await s.close();
  }
}, { timeoutMs: 90_000 });

test("watch: the caller's signal ends a watch on a frozen stand-in API server within 1 s, quietly (a cancelled watch resolves)", async () => {
  const s = await standIn();
  try {
    const h = await s.helpers();
    const ev = firstEvent();
    const ctl = new AbortController();
    const t0 = performance.now();
    const watching = h.client.watch(PODS, ev.onEvent, { signal: ctl.signal });
    await ev.seen;
    s.child.kill("SIGSTOP");
    setTimeout(() => ctl.abort(new Error("caller gave up")), 300);
    await watching;
    const ms = performance.now() - t0;
    assert.ok(ms < 300 + SLACK_MS, `ended after ${Math.round(ms)} ms`);
  } finally {
    await s.close();
  }
}, { timeoutMs: 90_000 });

test("watch: an already-aborted signal sends nothing; bad timeouts are refused naming the option", async () => {
  const s = await standIn();
  try {
    const h = await s.helpers();
    await h.client.watch(PODS, () => assert.fail("no event"), { signal: AbortSignal.abort() });
    for (const [opt, bad] of [["timeoutSeconds", NaN], ["timeoutSeconds", 0], ["idleTimeoutMs", "1000"], ["idleTimeoutMs", 2 ** 31]] as const) {
      await assert.rejects(h.client.watch(PODS, () => {}, { [opt]: bad }), (e: Error) => {
        assert.ok(e instanceof TypeError, `${e.name}: ${e.message}`);
        assert.match(e.message, new RegExp(`^watch\\(\\): option "${opt}" must be a positive, finite number`));
        return true;
      });
    }
    assert.equal(h.recorder.events().length, 0, "nothing was sent");
  } finally {
    await s.close();
  }
}, { timeoutMs: 90_000 });

test("watch: a stand-in API server that is gone (killed) fails at once with the transport error, naming the fault", async () => {
  const s = await standIn();
  try {
    const h = await s.helpers({ fault: () => Promise.resolve('service "k8s": the container c1 exited (137)') });
    s.child.kill("SIGKILL");
    await new Promise((r) => s.child.once("exit", r));
    const { err, ms } = await timedFailure(() => h.client.watch(PODS, () => {}));
    assert.ok(err instanceof KubeTransportError, `${err.name}: ${err.message}`);
    assert.match(err.message, /the container c1 exited \(137\)/);
    assert.match(err.message, /ECONNREFUSED|Connection refused|connect/i);
    assert.ok(ms < SLACK_MS, `ended after ${Math.round(ms)} ms`);
  } finally {
    await s.close();
  }
}, { timeoutMs: 90_000 });
