// A test process inside a container with the host's Docker socket mounted
// (tests/support/dood.ts), the topology where k3sbox used to dial
// 127.0.0.1 and time out: it is detected from the container's own mounts
// (confirmed with the daemon, not /.dockerenv), the process's container
// joins the environment's network and dials the service there, nothing is
// published beyond the daemon host's 127.0.0.1, and nothing is left.

import assert from "node:assert/strict";
import { suite } from "../harness.ts";
import { listByLabel } from "../../lib/docker.ts";
import { LABEL_ENV } from "../../lib/runner/labels.ts";
import { ensureBusyboxImage } from "../support/images.ts";
import { runInSocketContainer, startInSocketContainer } from "../support/dood.ts";
import { ENV_CHILD, runTag } from "../support/child-processes.ts";
import { deadlineMs } from "../support/load.ts";
import { docker, dockerResult } from "../../lib/docker.ts";
import { LABEL_OWNER_CONTAINER } from "../../lib/runner/labels.ts";
import { LABEL_WATCHDOG } from "../../lib/runner/reaper.ts";

const CHILD = new URL("../support/dood-child.ts", import.meta.url).pathname;

/** The sibling watchdogs still on the daemon for sessions of `container`'s processes. */
async function siblingsOf(sessionPrefix: string): Promise<string[]> {
  return (await listByLabel("container", [LABEL_WATCHDOG])).filter((c) => c.labels[LABEL_WATCHDOG].startsWith(sessionPrefix)).map((c) => c.name);
}

async function until<T>(what: string, withinMs: number, get: () => Promise<T>, done: (v: T) => boolean): Promise<{ value: T; ms: number }> {
  const t0 = Date.now();
  while (true) {
    const value = await get();
    if (done(value)) return { value, ms: Date.now() - t0 };
    if (Date.now() - t0 > withinMs) throw new Error(`${what}: not within ${withinMs} ms; last: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** The container's output once it says READY; fails at once if it ended first. */
async function readyLine(name: string): Promise<string> {
  const { value } = await until("READY in the container's output", 60_000, async () => {
    const logs = await dockerResult(["logs", name]).then((r) => r.stdout + r.stderr);
    if (/READY \w+/.test(logs)) return logs;
    const state = (await dockerResult(["inspect", "--format", "{{.State.Status}}", name])).stdout.trim();
    if (state !== "running" && state !== "created") throw new Error(`container ${name} is ${state || "gone"} before READY; its output: ${logs}`);
    return logs;
  }, (l) => /READY \w+/.test(l));
  return value;
}

async function leftoversOf(envId: string): Promise<string[]> {
  const f = [`${LABEL_ENV}=${envId}`];
  return [...await listByLabel("container", f), ...await listByLabel("network", f)].map((o) => o.name);
}

suite("a test process in a container with the host's socket mounted (DooD)", {
  setup: async () => {
    await ensureBusyboxImage();
    return {};
  },
  teardown: async () => {},
}, (t) => {
  t("detected as such; reaches the service over the environment's network; publishes nothing wider than 127.0.0.1; nothing left", async () => {
    const r = await runInSocketContainer(`k3sbox-test-dood-${runTag()}`, CHILD);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    assert.ok(out.ok, out.message);
    assert.equal(out.kind, "container");
    assert.equal(out.fetched, "hello-from-web");
    assert.equal(out.host, out.ip, "dialled at the container's address on the environment's network");
    for (const b of out.bindings) assert.match(b, /^8080\/tcp -> 127\.0\.0\.1:\d+$/);
    assert.deepEqual(await leftoversOf(out.id), []);
    // Its sibling watchdog goes once the container has ended.
    await until("sibling watchdog gone", 30_000, () => siblingsOf(out.session), (l) => l.length === 0);
  }, { timeoutMs: 90_000 });

  t("K3SBOX_HOST=127.0.0.1 there (the old behaviour) fails within 5 s naming it, not after the ready deadline", async () => {
    const r = await runInSocketContainer(`k3sbox-test-dood-${runTag()}`, CHILD, { K3SBOX_HOST: "127.0.0.1" });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    assert.equal(out.ok, false);
    assert.equal(out.name, "UnreachableError");
    assert.match(out.message, /cannot reach .* tried 127\.0\.0\.1:\d+/);
    assert.match(out.message, /K3SBOX_HOST says to reach the containers at 127\.0\.0\.1/);
    assert.ok(out.ms < deadlineMs(), `failed after ${out.ms} ms`);
  }, { timeoutMs: 90_000 });

  t("a test-process container killed with its environment running leaves nothing within a minute (sibling watchdog; owner container labelled)", async () => {
    const name = `k3sbox-test-dood-${runTag()}`;
    const id = await startInSocketContainer(name, ENV_CHILD);
    try {
      const logs = await readyLine(name);
      const envId = /READY (\w+)/.exec(logs)![1];
      const objects = await listByLabel("container", [`${LABEL_ENV}=${envId}`]);
      assert.equal(objects[0]?.labels[LABEL_OWNER_CONTAINER], id, "labelled with the owner container");
      const session = objects[0].labels["k3sbox.session"];
      assert.deepEqual(await siblingsOf(session), [`k3sbox-watchdog-${session}`], "the sibling watchdog runs");
      await docker(["kill", name]);
      const gone = await until("environment removed after the kill", 60_000, () => leftoversOf(envId), (l) => l.length === 0);
      console.error(`  environment gone ${gone.ms} ms after the kill`);
      await until("sibling watchdog gone", 30_000, () => siblingsOf(session), (l) => l.length === 0);
    } finally {
      await dockerResult(["rm", "--force", name]);
    }
  }, { timeoutMs: 150_000 });

  t("k3sbox doctor there reports the container topology: its container, and that it joins the environment's network", async () => {
    const cli = new URL("../../cli.ts", import.meta.url).pathname;
    const name = `k3sbox-test-dood-${runTag()}`;
    const r = await runInSocketContainer(name, cli, {}, 60_000, ["doctor", "--json", "--image", "k3sbox-test-busybox:1"]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const j = JSON.parse(r.stdout);
    assert.equal(j.topology.kind, "container");
    assert.equal(j.topology.mode, "network");
    assert.match(j.topology.reason, new RegExp(`runs in container ${name} `));
    assert.match(j.topology.address, /joins it/);
  }, { timeoutMs: 90_000 });

  t("liveness across PID namespaces: the host sees an in-container owner as live while its container runs, dead at once after (list, down)", async () => {
    const { listEnvironments } = await import("../../lib/runner/prune.ts");
    const { planDown } = await import("../../lib/cli/down.ts");
    const name = `k3sbox-test-dood-${runTag()}`;
    // No watchdogs: what is judged here is the label, not a cleanup.
    await startInSocketContainer(name, ENV_CHILD, { K3SBOX_REAPER: "0" });
    let envId = "";
    try {
      const logs = await readyLine(name);
      envId = /READY (\w+)/.exec(logs)![1];
      const session = (await listByLabel("container", [`${LABEL_ENV}=${envId}`]))[0].labels["k3sbox.session"];
      assert.deepEqual(await siblingsOf(session), [], "K3SBOX_REAPER=0: no sibling watchdog");
      const live = (await listEnvironments()).find((e) => e.id === envId);
      assert.equal(live?.owned, true, "owned while its container runs (its pid is another namespace's)");
      assert.deepEqual(planDown(await listEnvironments(), [envId], {}).spared, [envId]);
      await docker(["kill", name]);
      const dead = (await listEnvironments()).find((e) => e.id === envId);
      assert.equal(dead?.owned, false, "not owned once its container stopped (before: another host's, left alone for an hour)");
      assert.deepEqual(planDown(await listEnvironments(), [envId], {}).remove, [envId]);
    } finally {
      await dockerResult(["rm", "--force", name]);
      if (envId) await (await import("../../lib/runner/prune.ts")).removeEnvironment(envId);
    }
    assert.deepEqual(await leftoversOf(envId), []);
  }, { timeoutMs: 120_000 });
});
