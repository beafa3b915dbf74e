// The sweep at start (lib/runner/sweep.ts) against the real engine: an
// environment whose owner was SIGKILLed with its watchdog off
// (K3SBOX_REAPER=0, as after a daemon restart the watchdog gave up on) is
// removed by the next start of any environment, with its private directory;
// a live process's environment is left alone; K3SBOX_SWEEP=0 turns it off.
// Serial (*.serial.test.ts): every start sweeps every dead environment on
// the daemon, and this file leaves dead ones on purpose.

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "../harness.ts";
import { startEnvironment } from "../../lib/runner/environment.ts";
import { removeEnvironment } from "../../lib/runner/prune.ts";
import { BUSYBOX_IMAGE, ensureBusyboxImage } from "../support/images.ts";
import { leftovers } from "../support/leftovers.ts";
import { scriptArgv } from "../support/script.ts";

const image = { type: "registry" as const, reference: BUSYBOX_IMAGE };
const services = { idle: { image, command: "exec sleep 600" } };

/** A child starting an environment (its own sweep and watchdog off); resolves with its id once started. */
function child(script: string, ready: RegExp, env: Record<string, string>): { cp: ChildProcess; id: Promise<string>; exited: Promise<unknown> } {
  const [cmd, ...args] = scriptArgv(new URL(`../support/${script}`, import.meta.url).pathname);
  const cp = spawn(cmd, args, { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, K3SBOX_REAPER: "0", K3SBOX_SWEEP: "0", ...env } });
  const exited = new Promise((r) => cp.on("exit", r));
  const id = new Promise<string>((resolve, reject) => {
    let out = "";
    cp.stdout!.on("data", (c) => {
      out += c;
      const m = ready.exec(out);
      if (m) resolve(m[1]);
    });
    exited.then(() => reject(new Error(`${script} ended before its environment started:\n${out}`)));
  });
  return { cp, id, exited };
}

/** An environment whose owner was SIGKILLed with the watchdog off: containers, network and private directory stay. */
async function deadEnvironment(stateDir: string): Promise<string> {
  const c = child("kill-cycle-child.ts", /PHASE started ([a-f0-9]{10})/, { K3SBOX_STATE_DIR: stateDir });
  const id = await c.id;
  c.cp.kill("SIGKILL");
  await c.exited;
  return id;
}

suite("sweep at start (real Docker engine; environments this test leaves dead on purpose)", {
  setup: async () => {
    await ensureBusyboxImage();
    return { stateDir: await mkdtemp(join(tmpdir(), "k3sbox-sweep-")) };
  },
  teardown: async ({ stateDir }) => void await rm(stateDir, { recursive: true, force: true }),
}, (t) => {
  t("a dead process's environment (K3SBOX_REAPER=0) is removed by the next start, named in one progress line; a live process's is left alone", async ({ stateDir }) => {
    const live = child("env-child.ts", /READY ([a-f0-9]{10})/, {});
    const ids: string[] = [];
    try {
      const liveId = await live.id;
      ids.push(liveId);
      const dead = await deadEnvironment(stateDir);
      ids.push(dead);
      assert.equal((await leftovers(dead)).length, 2, "the dead one's container and network stayed");
      assert.deepEqual(await readdir(stateDir), [dead], "and its private directory");

      const lines: string[] = [];
      const env = await startEnvironment({ services, onProgress: (m) => lines.push(m) });
      try {
        const swept = lines.filter((l) => l.startsWith("removed "));
        assert.equal(swept.length, 1, lines.join("\n"));
        assert.match(swept[0], new RegExp(`^removed environments? .*${dead} \\(1 container, 1 network\\).* left by dead processes$`));
        assert.doesNotMatch(swept[0], new RegExp(liveId));
        assert.deepEqual(await leftovers(dead), [], "removed");
        assert.deepEqual(await readdir(stateDir), [], "its private directory too");
        assert.equal((await leftovers(liveId)).length, 2, "the live process's environment is untouched");
        assert.equal((await leftovers(env.id)).length, 2, "and the new one started");
      } finally {
        await env.stop();
      }
    } finally {
      live.cp.kill("SIGKILL");
      await live.exited;
      for (const id of ids) await removeEnvironment(id);
    }
    for (const id of ids) assert.deepEqual(await leftovers(id), []);
  }, { timeoutMs: 120_000 });

  t("K3SBOX_SWEEP=0: the next start leaves a dead environment alone (kept for inspection)", async ({ stateDir }) => {
    const dead = await deadEnvironment(stateDir);
    const before = process.env.K3SBOX_SWEEP;
    process.env.K3SBOX_SWEEP = "0";
    try {
      const lines: string[] = [];
      const env = await startEnvironment({ services, onProgress: (m) => lines.push(m) });
      await env.stop();
      assert.deepEqual(lines.filter((l) => l.startsWith("removed ")), []);
      assert.equal((await leftovers(dead)).length, 2, "still there");
    } finally {
      if (before === undefined) delete process.env.K3SBOX_SWEEP;
      else process.env.K3SBOX_SWEEP = before;
      await removeEnvironment(dead);
      await rm(join(stateDir, dead), { recursive: true, force: true });
    }
    assert.deepEqual(await leftovers(dead), []);
  }, { timeoutMs: 120_000 });

  t("K3SBOX_SWEEP=maybe is refused naming the variable, before anything is created", async () => {
    const before = process.env.K3SBOX_SWEEP;
    process.env.K3SBOX_SWEEP = "maybe";
    try {
      await assert.rejects(startEnvironment({ services }), /^EnvVarError: K3SBOX_SWEEP must be 1 or 0 .*got "maybe"$/);
    } finally {
      if (before === undefined) delete process.env.K3SBOX_SWEEP;
      else process.env.K3SBOX_SWEEP = before;
    }
  }, { timeoutMs: 30_000 });
});
