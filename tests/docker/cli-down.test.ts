// `k3sbox down` against the real engine, on environments this test creates
// only: one a running process owns (this one), one detached, one whose
// process was SIGKILLed with the watchdog off. `--all` is not run here — on a
// shared daemon it would remove other people's detached environments; its
// selection rule is the same planDown(), tested in tests/unit/cli-down.test.ts.
// The dead environment must stay until this test removes or inspects it,
// so another job's start must not sweep it first (lib/runner/sweep.ts):
// scripts/test.sh runs this file with K3SBOX_SWEEP=0 in every job beside
// it, after the files that prune.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "../harness.ts";
import { startEnvironment } from "../../lib/runner/environment.ts";
import { BUSYBOX_IMAGE, ensureBusyboxImage } from "../support/images.ts";
import { run } from "../../lib/exec.ts";
import { leftovers } from "../support/leftovers.ts";
import { scriptArgv } from "../support/script.ts";

const image = { type: "registry" as const, reference: BUSYBOX_IMAGE };

/** The CLI as a child process, sharing this test's private-directory root. */
const k3sbox = (args: string[]) => {
  const [cmd, ...pre] = scriptArgv(new URL("../../cli.ts", import.meta.url).pathname);
  return run(cmd, [...pre, ...args], { env: { K3SBOX_STATE_DIR: process.env.K3SBOX_STATE_DIR! }, timeoutMs: 60_000 });
};

/** An environment whose owner was SIGKILLed with the watchdog off: containers, network and its private directory stay. */
async function deadEnvironment(stateDir: string): Promise<string> {
  const [cmd, ...args] = scriptArgv(new URL("../support/kill-cycle-child.ts", import.meta.url).pathname);
  const cp = spawn(cmd, args, { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, K3SBOX_REAPER: "0", K3SBOX_STATE_DIR: stateDir } });
  const id = await new Promise<string>((resolve, reject) => {
    let out = "";
    cp.stdout!.on("data", (c) => {
      out += c;
      const m = /PHASE started ([a-f0-9]{10})/.exec(out);
      if (m) (cp.kill("SIGKILL"), resolve(m[1]));
    });
    cp.on("exit", () => reject(new Error(`child ended before its environment started:\n${out}`)));
  });
  await new Promise((r) => cp.on("exit", r));
  return id;
}

suite("k3sbox down (real Docker engine, this test's own environments)", {
  setup: async () => {
    await ensureBusyboxImage();
    const stateDir = await mkdtemp(join(tmpdir(), "k3sbox-down-"));
    process.env.K3SBOX_STATE_DIR = stateDir; // this process's environments and the CLI children's
    return { stateDir };
  },
  teardown: async ({ stateDir }) => {
    delete process.env.K3SBOX_STATE_DIR;
    await rm(stateDir, { recursive: true, force: true });
  },
}, (t) => {
  t("an environment a running process owns is refused without --force, removed with it", async () => {
    const env = await startEnvironment({ services: { idle: { image, command: "exec sleep 600" } } });
    try {
      const refused = await k3sbox(["down", env.id]);
      assert.equal(refused.code, 1, refused.stderr);
      assert.match(refused.stderr, new RegExp(`${env.id} belongs to a running process .*add --force`));
      assert.equal((await leftovers(env.id)).length, 2, "still there");
      const forced = await k3sbox(["down", env.id, "--force", "--json"]);
      assert.equal(forced.code, 0, forced.stderr);
      const report = JSON.parse(forced.stdout);
      assert.deepEqual(report.removed.map((r: { id: string }) => r.id), [env.id]);
      assert.deepEqual(await leftovers(env.id), []);
    } finally {
      await env.stop();
    }
  }, { timeoutMs: 60_000 });

  t("a detached environment and a dead one are removed by id, with their private directories; then the id is unknown", async ({ stateDir }) => {
    const detached = await startEnvironment({ services: { idle: { image, command: "exec sleep 600" } }, detached: true });
    detached.detach();
    const dead = await deadEnvironment(stateDir);
    assert.deepEqual(await readdir(stateDir), [dead], "the dead one's kubeconfig directory stayed");
    try {
      const r = await k3sbox(["down", detached.id, dead]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^removed ${detached.id}: k3sbox-${detached.id}-idle, k3sbox-${detached.id}$`, "m"));
      assert.match(r.stdout, new RegExp(`^removed ${dead}: k3sbox-${dead}-box, k3sbox-${dead}$`, "m"));
      assert.deepEqual([...await leftovers(detached.id), ...await leftovers(dead)], []);
      assert.deepEqual(await readdir(stateDir), [], "down removes the private directory too");
      const again = await k3sbox(["down", dead]);
      assert.equal(again.code, 1);
      assert.match(again.stderr, new RegExp(`no environment ${dead} on this Docker daemon`));
    } finally {
      await detached.stop();
    }
  }, { timeoutMs: 60_000 });

  t("down finds the private directory where it was written (another K3SBOX_STATE_DIR then), through the environment's label", async ({ stateDir }) => {
    const elsewhere = join(stateDir, "elsewhere");
    const dead = await deadEnvironment(elsewhere);
    assert.deepEqual(await readdir(elsewhere), [dead]);
    const r = await k3sbox(["down", dead]); // K3SBOX_STATE_DIR is stateDir, not elsewhere
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await leftovers(dead), []);
    assert.deepEqual(await readdir(elsewhere), [], "its directory (kubeconfigs, CA key) went too");
  }, { timeoutMs: 60_000 });
});
