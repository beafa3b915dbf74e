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
import { DeadlineError, deadlineSignal, withRequestSignal } from "../../lib/kube/request-scope.ts";
import { standIn, timedFailure } from "../support/standin.ts";

/** What the issue allows beyond a deadline. (Each test's 90 s timeout covers starting the stand-in, slow on a busy machine.) */
const SLACK_MS = 1_000;
const PODS = "/api/v1/namespaces/default/pods";
const PAUSED = 'service "k8s": the container c1 is paused (docker pause)';

/** The first event, or a failure naming how the watch ended before it (so a test never waits for an event that cannot come). */
function opened(seen: Promise<WatchEvent>, watching: Promise<unknown>): Promise<WatchEvent> {
  return Promise.race([seen, watching.then((r) => assert.fail(`the watch ended before its first event: ${(r as { err?: Error })?.err?.message ?? r}`))]);
}

/** Resolves with the first event, once it arrives. */
function firstEvent(): { seen: Promise<WatchEvent>; onEvent: (e: WatchEvent) => void; events: WatchEvent[] } {
  const events: WatchEvent[] = [];
  let resolve!: (e: WatchEvent) => void;
  const seen = new Promise<WatchEvent>((r) => (resolve = r));
  return { seen, events, onEvent: (e) => void (events.push(e), resolve(e)) };
}

test("watch: the stand-in API server frozen (SIGSTOP) mid-watch ends it after idleTimeoutMs and a failed liveness check (2 s), naming the path, the silence and the fault", async () => {
  const s = await standIn();
  try {
    const h = await s.helpers({ fault: () => Promise.resolve(PAUSED) });
    const ev = firstEvent();
    const watching = timedFailure(() => h.client.watch(PODS, ev.onEvent, { idleTimeoutMs: 1_000, timeoutSeconds: 60 }));
    assert.equal((await opened(ev.seen, watching)).type, "ADDED");
    const t0 = performance.now(); // the last byte came just before
    s.child.kill("SIGSTOP");
    const { err } = await watching;
    const ms = performance.now() - t0;
    assert.ok(err instanceof WatchStalledError, `${err.name}: ${err.message}`);
    assert.match(err.message, new RegExp(`^watch ${PODS}: no event or byte for 1 s and the API server did not answer a liveness check \\(GET /version\\) within 2 s; nothing arrived for \\d+\\.\\d s: ${PAUSED.replace(/[()]/g, "\\$&")}$`));
    assert.ok(err.silentMs >= 2_900, `silent ${err.silentMs} ms: idle 1 s, then a liveness check that waits 2 s (its least)`);
    assert.equal(ev.events.length, 1);
    // idle 1 s + liveness check 2 s + fault probe, from the last byte
    assert.ok(ms < 3_000 + SLACK_MS, `ended ${Math.round(ms)} ms after the last byte`);
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
    const watching = timedFailure(() => h.client.watch(PODS, ev.onEvent, { timeoutSeconds: 2 })); // idle default 30 s: the deadline comes first
    await opened(ev.seen, watching);
    const t0 = performance.now(); // the server answered (with its first event) just before: its 2 s run from then
    s.child.kill("SIGSTOP");
    const { err } = await watching;
    const ms = performance.now() - t0;
    assert.ok(err instanceof WatchStalledError, `${err.name}: ${err.message}`);
    assert.match(err.message, new RegExp(`^watch ${PODS}: the API server did not end the watch at its timeoutSeconds \\(2 s\\); nothing arrived for \\d\\.\\d s: `));
    assert.equal(err.fault, PAUSED);
    assert.ok(ms < 2_000 + SLACK_MS, `ended ${Math.round(ms)} ms after the server's answer, timeoutSeconds 2`);
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
    assert.ok(ms < 800 + 2_000 + SLACK_MS, `ended after ${Math.round(ms)} ms: idle 0.8 s + a 2 s liveness check`);
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
    const watching = h.client.watch(PODS, ev.onEvent, { signal: ctl.signal });
    await opened(ev.seen, watching);
    s.child.kill("SIGSTOP");
    await new Promise((r) => setTimeout(r, 300));
    const t0 = performance.now();
    ctl.abort(new Error("caller gave up"));
    await watching;
    const ms = performance.now() - t0;
    assert.ok(ms < SLACK_MS, `ended ${Math.round(ms)} ms after the abort`);
  } finally {
    await s.close();
  }
}, { timeoutMs: 90_000 });

test("watch: a wait built on it (an operation's request scope, withRequestSignal) keeps the wait's deadline within 1 s on a frozen stand-in API server, with the wait's error", async () => {
  const s = await standIn();
  try {
    const h = await s.helpers();
    await h.client.core.listNode(); // the stand-in answers (a loaded machine can take seconds to start it): the deadline is for the watch
    const ev = firstEvent();
    const t0 = performance.now();
    const { signal, clear } = deadlineSignal(Date.now() + 5_000, "pod web-0 Ready");
    const watching = timedFailure(() => withRequestSignal(signal, () => h.client.watch(PODS, ev.onEvent)));
    await opened(ev.seen, watching);
    s.child.kill("SIGSTOP");
    const { err } = await watching;
    clear();
    const ms = performance.now() - t0;
    assert.ok(err instanceof DeadlineError, `${err.name}: ${err.message}`);
    assert.match(err.message, /^pod web-0 Ready: deadline reached/);
    assert.ok(ms < 5_000 + SLACK_MS, `ended after ${Math.round(ms)} ms, deadline 5000 ms`);
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
