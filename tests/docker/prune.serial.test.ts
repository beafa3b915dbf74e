// prune() against a real Docker engine. prune removes EVERY dead
// environment on the daemon, including the ones other test files leave dead
// on purpose (a SIGKILLed owner, to test `down` or the reaper). So this file
// is "serial": scripts/test.sh runs the *.serial.test.ts files one at a
// time, before the other files (which run in parallel), beside only the jobs
// that leave no dead environment (consumers, static, testbed, unit, tls).

import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { suite } from "../harness.ts";
import { startEnvironment } from "../../lib/runner/environment.ts";
import { prune } from "../../lib/runner/prune.ts";
import { removeReused } from "../../lib/runner/reuse.ts";
import { environmentDirPath } from "../../lib/runner/state-dir.ts";
import { k3sbox } from "../support/cli.ts";
import { containersOf, ENV_CHILD, runReuseChild, runTag, startChild } from "../support/child-processes.ts";
import { BUSYBOX_IMAGE, ensureBusyboxImage } from "../support/images.ts";
import { leftovers } from "../support/leftovers.ts";

suite("prune (real Docker engine, busybox image; serial: no other test file beside it)", {
  setup: async () => {
    await ensureBusyboxImage();
    // What is judged here is prune: the live environment a test starts beside
    // a dead one must not sweep it first (every start does, lib/runner/sweep.ts).
    const sweep = process.env.K3SBOX_SWEEP;
    process.env.K3SBOX_SWEEP = "0";
    return { sweep };
  },
  teardown: ({ sweep }) => {
    if (sweep === undefined) delete process.env.K3SBOX_SWEEP;
    else process.env.K3SBOX_SWEEP = sweep;
    return Promise.resolve();
  },
}, (t) => {
  t("prune removes a SIGKILLed process's leftovers (reaper off) but never a live environment", async () => {
    const child = startChild(ENV_CHILD, { K3SBOX_REAPER: "0" });
    const deadId = await child.ready;
    process.kill(child.pid, "SIGKILL");
    await child.exited;
    assert.equal((await leftovers(deadId)).length, 2, "SIGKILL leaves the environment behind");
    await using live = await startEnvironment({ services: { idle: { image: { type: "registry", reference: BUSYBOX_IMAGE }, command: "exec sleep 3600" } } });
    const dry = await prune({ dryRun: true });
    assert.ok(dry.containers.includes(`k3sbox-${deadId}-idle`));
    assert.equal((await leftovers(deadId)).length, 2, "dry run removes nothing");
    const result = await prune();
    assert.ok(result.containers.includes(`k3sbox-${deadId}-idle`));
    assert.ok(result.networks.includes(`k3sbox-${deadId}`));
    assert.ok(result.skippedLive.includes(live.id));
    assert.deepEqual(await leftovers(deadId), []);
    assert.equal((await leftovers(live.id)).length, 2, "the live environment is untouched");
  }, { timeoutMs: 60_000 });

  t("reuse: `k3sbox list` shows it idle; `k3sbox prune --reuse-idle` removes it once idle that long", async () => {
    const env = await runReuseChild(`${runTag()}-idle`);
    try {
      const listed = await k3sbox(["list", "--json"]);
      assert.equal(listed.code, 0, listed.stderr);
      const mine = (JSON.parse(listed.stdout) as { id: string; attached: number[]; idleMs?: number; containers: string[] }[]).find((e) => e.id === env.id);
      assert.ok(mine, `listed: ${listed.stdout}`);
      assert.deepEqual(mine.attached, []);
      assert.ok(mine.idleMs !== undefined && mine.idleMs >= 0 && mine.idleMs < 120_000, `idle since the child left: ${mine.idleMs}`);
      assert.deepEqual(mine.containers, [`k3sbox-${env.id}-idle`]);
      // Make it look unused for 30 years, so a 20-year threshold removes it and nobody else's.
      await writeFile(join(environmentDirPath(env.id), "reuse-used"), "1996-01-01T00:00:00.000Z");
      const pruned = await k3sbox(["prune", "--reuse-idle", "7300d", "--json"]);
      assert.equal(pruned.code, 0, pruned.stderr);
      assert.deepEqual((JSON.parse(pruned.stdout) as { reused: string[] }).reused, [env.id]);
      assert.deepEqual(await containersOf(env.id), []);
    } finally {
      await removeReused(env.id);
    }
  }, { timeoutMs: 120_000 });
});
