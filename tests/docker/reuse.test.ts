// Warm reuse across processes, against the real Docker engine: a second
// process with the same definitions attaches (no new containers, setup not
// run again), other definitions get their own environment, a broken one is
// replaced, and one a live process is attached to is never removed.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { test } from "../harness.ts";
import { docker, inspectContainer } from "../../lib/docker.ts";
import { removeReused } from "../../lib/runner/reuse.ts";
import { ensureBusyboxImage } from "../support/images.ts";
import { scriptArgv } from "../support/script.ts";
import { containersOf, REUSE_CHILD, type ReuseChildOut, runReuseChild, runTag } from "../support/child-processes.ts";

// Each run of this file gets its own definitions, so it never meets another run's environments.
const RUN = runTag();
const child = (variant: string, extraEnv: Record<string, string> = {}) => runReuseChild(`${RUN}-${variant}`, extraEnv);

test("reuse: the next process attaches (no new container, no second setup); other definitions get their own", async () => {
  await ensureBusyboxImage();
  const made: string[] = [];
  try {
    const first = await child("a");
    made.push(first.id);
    assert.equal(first.setups, 1);
    const [container] = await containersOf(first.id);
    assert.equal((await inspectContainer(container)).state.status, "running", "kept running after the first process ended");

    const second = await child("a", { K3SBOX_REUSE: "1" });
    assert.equal(second.id, first.id, "attached to the same environment (K3SBOX_REUSE=1)");
    assert.equal(second.setups, 1, "setup did not run again");
    assert.equal(second.timings.setup, undefined);
    assert.deepEqual(await containersOf(first.id), [container], "no container was created");

    const other = await child("b");
    made.push(other.id);
    assert.notEqual(other.id, first.id, "different definitions, different environment");
  } finally {
    for (const id of made) await removeReused(id);
  }
  for (const id of made) assert.deepEqual(await containersOf(id), []);
}, { timeoutMs: 180_000 });

test("reuse: a broken environment is replaced, but never one a live process is attached to", async () => {
  await ensureBusyboxImage();
  const made: string[] = [];
  let holder: ReturnType<typeof spawn> | undefined;
  try {
    const first = await child("c");
    made.push(first.id);
    await docker(["stop", "--time", "0", ...(await containersOf(first.id))]);
    const replaced = await child("c");
    made.push(replaced.id);
    assert.notEqual(replaced.id, first.id);
    assert.equal(replaced.setups, 1, "the replacement was set up");
    assert.deepEqual(await containersOf(first.id), [], "the broken one was removed");

    // A live process holds the replacement; then it breaks; the next run must leave it alone.
    const [cmd, ...args] = scriptArgv(REUSE_CHILD);
    holder = spawn(cmd, args, { env: { ...process.env, K3SBOX_CHILD_VARIANT: `${RUN}-c`, K3SBOX_CHILD_HOLD: "1" }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    holder.stdout!.on("data", (d) => (out += d));
    const deadline = Date.now() + 60_000;
    while (!out.includes("\n") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.equal((JSON.parse(out.trim()) as ReuseChildOut).id, replaced.id, "the holder attached");
    const held = await containersOf(replaced.id);
    await docker(["stop", "--time", "0", ...held]);
    const third = await child("c");
    made.push(third.id);
    assert.notEqual(third.id, replaced.id);
    assert.deepEqual(await containersOf(replaced.id), held, "the environment a live process is attached to was not removed");
  } finally {
    holder?.kill("SIGKILL");
    for (const id of made) await removeReused(id);
  }
}, { timeoutMs: 240_000 });
