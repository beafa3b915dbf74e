// Crash cleanup under fire: child processes that start and stop an
// environment are killed (SIGKILL, SIGINT, SIGTERM) at moments spread over
// their whole life — runtime start, preflight, containers, readiness,
// helpers, setup, running, teardown — and then the real test runners time
// out a test holding a live environment (`bun test --timeout`, `deno test`,
// `node --test --test-timeout`). After each: no container, network or
// private directory left, whichever of the signal handler, the crash
// watchdog or the child's own stop() removed it.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { skip, suite, test } from "../harness.ts";
import { listByLabel } from "../../lib/docker.ts";
import { LABEL_ENV, LABEL_PID } from "../../lib/runner/labels.ts";
import { runtime } from "../../lib/runtime.ts";
import { ensureBusyboxImage } from "../support/images.ts";
import { leftovers, shellExitCode } from "../support/leftovers.ts";
import { scriptArgv } from "../support/script.ts";

const CHILD = new URL("../support/kill-cycle-child.ts", import.meta.url).pathname;
const FIXTURE = new URL("../support/timeout-fixture.ts", import.meta.url).pathname;
const BIN = new URL("../../node_modules/.bin/", import.meta.url).pathname;
const SIGNALS = ["SIGKILL", "SIGINT", "SIGTERM"] as const;
const CYCLES = 21;
/** The watchdog checks once a second; removal takes a moment more. */
const CLEANUP_DEADLINE_MS = 15_000;

async function objectsOf(pid: number): Promise<string[]> {
  const filter = [`${LABEL_PID}=${pid}`];
  const [c, n] = await Promise.all([listByLabel("container", filter), listByLabel("network", filter)]);
  return [...c, ...n].map((o) => `${o.name} (env ${o.labels[LABEL_ENV]})`);
}

const entries = (dir: string) => readdir(dir).catch(() => [] as string[]);

/** Polls until `left()` is empty; fails with what is still there at the deadline. */
async function waitGone(what: string, left: () => Promise<string[]>): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const now = await left();
    if (now.length === 0) return Date.now() - t0;
    assert.ok(Date.now() - t0 < CLEANUP_DEADLINE_MS, `${what}: still there after ${CLEANUP_DEADLINE_MS} ms: ${now.join(", ")}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

interface Cycle {
  signal: (typeof SIGNALS)[number];
  delayMs: number;
  /** The child's last phase line before the signal. */
  phase: string;
  code: number | null;
  cleanupMs: number;
  stderr: string;
}

/** Where a cycle's signal lands: a random moment (0-150 ms) after the child announces this phase; "" is the runtime's own start. */
const TARGETS = [
  "",
  "checking Docker",
  "creating the network",
  "creating and starting containers",
  "waiting for readiness",
  "connecting helpers",
  "running setup",
  "started",
  "stopping",
];

async function cycle(i: number, root: string): Promise<Cycle> {
  const target = TARGETS[i % TARGETS.length];
  // Each round over the targets shifts the signals, so every phase meets different ones.
  const signal = SIGNALS[(i + Math.floor(i / TARGETS.length)) % SIGNALS.length];
  const stateDir = join(root, `cycle-${i}`);
  const [cmd, ...args] = scriptArgv(CHILD);
  const t0 = Date.now();
  const cp = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, K3SBOX_STATE_DIR: stateDir } });
  let out = "";
  let err = "";
  cp.stdout!.on("data", (c) => (out += c));
  cp.stderr!.on("data", (c) => (err += c));
  const exited = new Promise<number | null>((r) => cp.on("exit", (code, sig) => r(shellExitCode(code, sig))));
  const running = () => cp.exitCode === null && cp.signalCode === null;
  while (target && running() && !out.includes(`PHASE ${target}`) && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => setTimeout(r, Math.random() * (target ? 150 : 400)));
  const delayMs = Date.now() - t0;
  const phase = /PHASE ([^\n]*)\n(?![\s\S]*PHASE)/.exec(out)?.[1] ?? "(runtime starting)";
  if (running()) cp.kill(signal);
  const code = await exited;
  const t1 = Date.now();
  await waitGone(`cycle ${i} (${signal} at ${delayMs} ms, ${phase}) containers/networks`, () => objectsOf(cp.pid!));
  await waitGone(`cycle ${i} private directories`, () => entries(stateDir));
  // A child that was not killed must have finished cleanly.
  if (code === 0) assert.match(out, /PHASE done/, err);
  return { signal, delayMs, phase, code, cleanupMs: Date.now() - t1, stderr: err };
}

/** Runs the fixture under a real test runner that times its test out; returns the environment it left live at the timeout. */
async function runnerTimeout(argv: string[], env: Record<string, string> = {}): Promise<{ envId: string; code: number | null; cleanupMs: number }> {
  // Under `node --test` this process carries NODE_TEST_CONTEXT, which would make the child report to us instead of running on its own.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== "NODE_TEST_CONTEXT"));
  const cp = spawn(argv[0], argv.slice(1), { stdio: ["ignore", "pipe", "pipe"], env: { ...inherited, ...env } });
  let out = "";
  cp.stdout!.on("data", (c) => (out += c));
  cp.stderr!.on("data", (c) => (out += c));
  const killer = setTimeout(() => cp.kill("SIGKILL"), 90_000);
  const code = await new Promise<number | null>((r) => cp.on("exit", (c, s) => r(shellExitCode(c, s))));
  clearTimeout(killer);
  const envId = /READY ([a-f0-9]{10})/.exec(out)?.[1];
  assert.ok(envId, `${argv.slice(0, 2).join(" ")}: the fixture never started its environment:\n${out}`);
  assert.match(out, /timed out|deadline|cancelled/i, `the runner did not time the test out:\n${out}`);
  const t0 = Date.now();
  await waitGone(`${argv.slice(0, 2).join(" ")} timeout: environment ${envId}`, () => leftovers(envId));
  return { envId, code, cleanupMs: Date.now() - t0 };
}

suite("kill cycles and test-runner timeouts leave nothing (real Docker engine)", {
  setup: async () => {
    await ensureBusyboxImage();
    return { root: await mkdtemp(join(tmpdir(), "k3sbox-kill-cycle-")) };
  },
  teardown: async ({ root }) => {
    await rm(root, { recursive: true, force: true });
  },
}, (t) => {
  t(`${CYCLES} cycles of SIGKILL / SIGINT / SIGTERM spread over start, setup, running and teardown`, async ({ root }) => {
    const results: Cycle[] = [];
    const queue = Array.from({ length: CYCLES }, (_, i) => i);
    await Promise.all([1, 2, 3].map(async () => {
      for (let i = queue.shift(); i !== undefined; i = queue.shift()) results[i] = await cycle(i, root);
    }));
    for (const [i, r] of results.entries()) {
      console.error(`  cycle ${String(i).padStart(2)}: ${r.signal.padEnd(7)} at ${String(r.delayMs).padStart(4)} ms during "${r.phase}", exit ${r.code}, clean after ${r.cleanupMs} ms`);
    }
    for (const r of results) {
      // Killed by the signal, or by the handler exiting with its conventional code (also when the
      // signal interrupts the start: the start then waits for the handler), or finished before it.
      const expected = { SIGKILL: 137, SIGINT: 130, SIGTERM: 143 }[r.signal];
      assert.ok(r.code === expected || r.code === 0, `${r.signal} at ${r.delayMs} ms during "${r.phase}": exit ${r.code}\n${r.stderr}`);
    }
    const phases = new Set(results.map((r) => r.phase));
    console.error(`  phases hit: ${[...phases].join(" | ")}`);
  }, { timeoutMs: 180_000 });
});

// It drives all three runners itself, whichever runtime hosts it: run once, in the Bun pass of this tier.
const RUNNER_TIMEOUTS = "a test that times out under bun test --timeout, deno test and node --test --test-timeout leaves nothing";
if (runtime !== "bun") {
  skip(RUNNER_TIMEOUTS, `it starts bun, deno and node itself, so it runs once, in the Bun pass of this tier (this is ${runtime})`);
} else {
  test(RUNNER_TIMEOUTS, async () => {
    await ensureBusyboxImage();
    // Long enough for three runtimes to start an environment at once on a busy machine.
    const runs = await Promise.all([
      runnerTimeout([`${BIN}bun`, "test", "--timeout", "20000", FIXTURE]),
      runnerTimeout([`${BIN}deno`, "test", "-A", FIXTURE], { K3SBOX_FIXTURE_TIMEOUT_MS: "20000" }),
      runnerTimeout([`${BIN}node`, "--test", "--test-timeout=20000", FIXTURE], { NODE_OPTIONS: "--experimental-transform-types --no-warnings" }),
    ]);
    for (const [name, r] of [["bun test", runs[0]], ["deno test", runs[1]], ["node --test", runs[2]]] as const) {
      console.error(`  ${name}: exit ${r.code}; environment ${r.envId} gone ${r.cleanupMs} ms after the runner ended`);
      assert.notEqual(r.code, 0, `${name} must report the timed-out test as failed`);
    }
  }, { timeoutMs: 150_000 });
}
