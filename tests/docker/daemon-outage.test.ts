// The crash watchdog outlasts a Docker daemon outage: the child's CLI talks
// to the real daemon through a Unix-socket relay (a stand-in for dockerd
// going away and coming back: closing the relay makes the daemon
// unreachable exactly as a stopped dockerd does, without restarting the
// daemon other jobs share). The child is SIGKILLed while the relay is down;
// the watchdog cannot remove anything then, keeps trying, and removes the
// container, network and private directory once the relay is back.
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
import { ensureBusyboxImage } from "../support/images.ts";
import { leftovers } from "../support/leftovers.ts";
import { scriptArgv } from "../support/script.ts";
import { DOCKER_SOCKET, relay } from "../support/docker-relay.ts";

async function waitFor(what: string, done: () => Promise<boolean>, ms: number): Promise<void> {
  const t0 = Date.now();
  while (!(await done())) {
    assert.ok(Date.now() - t0 < ms, `${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

suite("crash watchdog across a Docker daemon outage (real engine behind a Unix-socket relay)", {
  setup: async () => {
    await ensureBusyboxImage();
    return { dir: await mkdtemp(join(tmpdir(), "k3sbox-outage-")) };
  },
  teardown: async ({ dir }) => void await rm(dir, { recursive: true, force: true }),
}, (t) => {
  t("SIGKILL while the daemon is unreachable: the watchdog retries and cleans up once it answers again", async ({ dir }) => {
    if (!(await import("node:fs")).existsSync(DOCKER_SOCKET)) throw new Error(`${DOCKER_SOCKET} is missing: this test relays to the local daemon's socket`);
    const sock = join(dir, "docker.sock");
    const stateDir = join(dir, "state");
    let up = await relay(sock);
    const [cmd, ...args] = scriptArgv(new URL("../support/kill-cycle-child.ts", import.meta.url).pathname);
    const cp = spawn(cmd, args, {
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, DOCKER_HOST: `unix://${sock}`, K3SBOX_STATE_DIR: stateDir, K3SBOX_REAPER: "" },
    });
    const exited = new Promise((r) => cp.on("exit", r));
    let id = "";
    try {
      id = await new Promise<string>((resolve, reject) => {
        let out = "";
        cp.stdout!.on("data", (c) => {
          out += c;
          const m = /PHASE started ([a-f0-9]{10})/.exec(out);
          if (m) resolve(m[1]);
        });
        cp.on("exit", () => reject(new Error(`child ended before its environment started:\n${out}`)));
      });
      await up.close(); // the daemon "goes away"
      cp.kill("SIGKILL");
      await exited;
      await new Promise((r) => setTimeout(r, 3_000)); // the watchdog notices within a second, and cannot reach Docker
      assert.equal((await leftovers(id)).length, 2, "nothing could be removed while the daemon was unreachable");
      assert.deepEqual(await readdir(stateDir), [id]);
      up = await relay(sock); // it "comes back"
      await waitFor(`cluster ${id} removed`, async () => (await leftovers(id)).length === 0, 15_000);
      await waitFor(`directory of ${id} removed`, async () => (await readdir(stateDir)).length === 0, 5_000);
    } finally {
      cp.kill("SIGKILL");
      await up.close();
      if (id) await import("../../lib/runner/prune.ts").then((p) => p.removeEnvironment(id));
    }
  }, { timeoutMs: 90_000 });
});
