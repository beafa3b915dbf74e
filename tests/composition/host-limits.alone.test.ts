// The field's most common host limit, reproduced: the Docker host's inotify
// instances used up (several clusters on one machine with the default
// fs.inotify.max_user_instances of 128). The test lowers the host's limit to
// what its processes use now plus a few, so the next node's kubelet cannot
// get one, and expects k3s() to fail within seconds with the limit named and
// the command that raises it — not a readiness timeout, not a bare "exited
// with code 1" — and to leave nothing behind. The limit is restored after.
//
// Alone (scripts/test.sh runs *.alone.test.ts before every other job, with
// nothing beside it): the limit is host-wide, so any cluster started beside
// it would fail too. Under one runtime: it tests the library's diagnosis,
// which is the same code under each.

import assert from "node:assert/strict";
import { readdir, readFile, readlink, writeFile } from "node:fs/promises";
import { skip, test } from "../harness.ts";
import { docker, dockerResult, listByLabel } from "../../lib/docker.ts";
import { k3s } from "../../lib/k3s/k3s.ts";
import { startEnvironment } from "../../lib/runner/environment.ts";
import { LABEL_PID } from "../../lib/runner/labels.ts";
import { LABEL_COMPANION } from "../../lib/runner/companions.ts";
import { sleep } from "../../lib/sleep.ts";
import { NO_IMAGE_REASON, TESTBED_IMAGE } from "../support/controlplane.ts";
import { runtime } from "../../lib/runtime.ts";

const LIMIT = "/proc/sys/fs/inotify/max_user_instances";
/** The start must fail well before its readiness deadline. */
const READY_TIMEOUT_SECS = 120;
const FAIL_WITHIN_MS = 60_000;

/** inotify instances held by the processes this process can see (the daemon's host, in the local topology). */
async function inotifyInUse(): Promise<number> {
  let n = 0;
  for (const pid of (await readdir("/proc")).filter((d) => /^\d+$/.test(d))) {
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) if ((await readlink(`/proc/${pid}/fd/${fd}`).catch(() => "")) === "anon_inode:inotify") n++;
  }
  return n;
}

/** Containers and networks of this process's environments. */
async function ownObjects(): Promise<string[]> {
  const f = [`${LABEL_PID}=${process.pid}`];
  return [...await listByLabel("container", f), ...await listByLabel("network", f)].map((o) => o.name);
}

/**
 * Pauses this process's agent container as soon as it exists, waits until
 * the server's node is Ready, runs `then`, and unpauses the agent.
 */
async function holdAgentUntilServerReady(then: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + 60_000;
  const find = (extra: string) => listByLabel("container", [`${LABEL_PID}=${process.pid}`, extra]);
  let agent: string | undefined;
  while (!agent) {
    if (Date.now() > deadline) throw new Error("the agent container did not appear within 60 s");
    agent = (await find(LABEL_COMPANION))[0]?.name;
    if (!agent) await sleep(50);
  }
  // Created, then started once its files are in: pause it as soon as it runs.
  for (;;) {
    const r = await dockerResult(["pause", agent]);
    if (r.code === 0) break;
    // "is not running": not started yet; "unable to freeze": runc's freezer gave up on a busy start (it thaws).
    if (!/is not running|unable to freeze/.test(r.stderr) || Date.now() > deadline) throw new Error(`docker pause ${agent}: ${r.stderr.trim()}`);
    await sleep(20);
  }
  const server = (await listByLabel("container", [`${LABEL_PID}=${process.pid}`])).find((c) => c.name !== agent)?.name;
  assert.ok(server, "the server container exists");
  // The server's node Ready and every pod on it running: its components and
  // its add-ons' containers (started beside the agents' wait) hold their
  // inotify instances before the limit is lowered, so only the agent meets it.
  for (let last = "";;) {
    if (Date.now() > deadline) throw new Error(`the server's node and its pods were not ready within 60 s (last: ${last})`);
    const node = (await dockerResult(["exec", server, "k3s", "kubectl", "get", "nodes", "-o", "jsonpath={.items[0].status.conditions[?(@.type=='Ready')].status}"])).stdout.trim();
    const pods = await dockerResult(["exec", server, "k3s", "kubectl", "get", "pods", "-A", "-o", "jsonpath={range .items[*]}{.status.phase}{'\\n'}{end}"]);
    const phases = pods.stdout.trim().split("\n").filter(Boolean);
    if (node === "True" && phases.length >= 3 && phases.every((p) => p === "Running" || p === "Succeeded")) break;
    last = `node Ready: ${node || "(none)"}; pods: ${phases.join(",") || "(none)"}`;
    await sleep(250);
  }
  await then();
  await docker(["unpause", agent]);
}

/** Why this test cannot run here, or undefined. */
async function cannotRun(): Promise<string | undefined> {
  if (!TESTBED_IMAGE) return NO_IMAGE_REASON;
  if (runtime !== "bun") return `runs under bun only: it tests the library's diagnosis, the same code under each runtime, and each run costs a cluster start with nothing beside it`;
  if (process.env.DOCKER_HOST) return `DOCKER_HOST=${process.env.DOCKER_HOST}: the daemon's host is not this machine, whose /proc this test counts and whose limit it sets`;
  if (process.getuid?.() !== 0) return `not root: ${LIMIT} can be set by root only`;
  const current = await readFile(LIMIT, "utf8").catch(() => undefined);
  if (current === undefined) return `${LIMIT} is not readable here`;
  try {
    await writeFile(LIMIT, current);
  } catch (err) {
    return `${LIMIT} is read-only here (${(err as Error).message})`;
  }
  return undefined;
}

const why = await cannotRun();
if (why) {
  skip("the Docker host's inotify instances used up: k3s() names the limit within seconds", why);
} else {
  test("the same when the server is up and the agent's kubelet finds the limit used up: fails within 60 s naming the agent node, its exit and the limit, not after the agents' 120 s deadline", async () => {
    const saved = (await readFile(LIMIT, "utf8")).trim();
    const def = { ...k3s({ agents: 1, registry: false, readyTimeoutSecs: READY_TIMEOUT_SECS }), image: { type: "registry" as const, reference: TESTBED_IMAGE! } };
    let lowering: Promise<void> | undefined;
    let loweredAt = 0;
    let err: Error | undefined;
    try {
      err = await startEnvironment({
        services: { k8s: def },
        // The agent is held (paused) until the server's node is Ready, so the server's
        // components hold their instances; then the limit is lowered and the agent goes on.
        onProgress: (m) => {
          if (!lowering && /starting 1 agent node/.test(m)) {
            lowering = holdAgentUntilServerReady(async () => {
              await writeFile(LIMIT, String((await inotifyInUse()) + 2));
              loweredAt = performance.now();
            });
            lowering.catch(() => {}); // awaited below; its failure is reported there
          }
        },
      }).then(
        async (env) => {
          await env.stop();
          return undefined;
        },
        (e: unknown) => e as Error,
      );
      // The hold's own failure, with the start's error beside it (the start may have failed first).
      await lowering?.catch((e: Error) => Promise.reject(new Error(`${e.message}; the start: ${err?.message.slice(0, 1500) ?? "succeeded"}`)));
    } finally {
      await lowering?.catch(() => {});
      await writeFile(LIMIT, saved);
    }
    assert.ok(lowering, "the agents were started");
    assert.ok(loweredAt > 0, "the limit was lowered");
    const ms = performance.now() - loweredAt;
    assert.ok(err, "the start must fail with the limit lowered");
    assert.ok(ms < FAIL_WITHIN_MS, `failed after ${Math.round(ms)} ms, not within ${FAIL_WITHIN_MS} ms: ${err.message.slice(0, 400)}`);
    assert.match(err.message, /option "agents": agent node k8s-agent-1 failed before it was Ready: the container \S+ exited with code 1/, err.message.slice(0, 2000));
    assert.match(err.message, /cause: the Docker host's inotify instances are used up/);
    assert.deepEqual(await ownObjects(), [], "a failed start leaves no container or network");
  }, { timeoutMs: 240_000 });

  test("the Docker host's inotify instances used up (fs.inotify.max_user_instances): k3s({ agents: 1 }) fails within 60 s naming the limit and the sysctl that raises it, and leaves nothing", async () => {
    const saved = (await readFile(LIMIT, "utf8")).trim();
    const def = { ...k3s({ agents: 1, registry: false, readyTimeoutSecs: READY_TIMEOUT_SECS }), image: { type: "registry" as const, reference: TESTBED_IMAGE! } };
    let err: Error | undefined;
    let ms = 0;
    try {
      // A few more than in use now: the node's first components get theirs, its kubelet does not.
      await writeFile(LIMIT, String((await inotifyInUse()) + 4));
      const t0 = performance.now();
      err = await startEnvironment({ services: { k8s: def } }).then(
        async (env) => {
          await env.stop();
          return undefined;
        },
        (e: unknown) => e as Error,
      );
      ms = performance.now() - t0;
    } finally {
      await writeFile(LIMIT, saved);
    }
    assert.ok(err, "the start must fail with the limit lowered");
    console.error(`  failed after ${Math.round(ms)} ms:\n${err.message.split("\n").slice(0, 2).join("\n").slice(0, 300)}`);
    assert.ok(ms < FAIL_WITHIN_MS, `failed after ${Math.round(ms)} ms, not within ${FAIL_WITHIN_MS} ms: ${err.message.slice(0, 400)}`);
    assert.match(err.message, /cause: the Docker host's inotify instances are used up \(fs\.inotify\.max_user_instances/, err.message.slice(0, 2000));
    assert.match(err.message, /sysctl -w fs\.inotify\.max_user_instances=512/);
    assert.doesNotMatch(err.message, /was not ready within/, "reported as what it is, not as a readiness timeout");
    assert.deepEqual(await ownObjects(), [], "a failed start leaves no container or network");
  }, { timeoutMs: 240_000 });
}
