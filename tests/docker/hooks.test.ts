// User hooks under deadlines, and teardown that no hook can stop (real
// Docker engine, locally built busybox): a setup or helpers hook that never
// settles fails the start at the definition's hookTimeoutSecs, its signal
// aborted; a dispose that throws synchronously still lets stop() remove the
// container and network; a readyProbe that never settles is named as such;
// ctx.fault() names a paused or killed container.

import assert from "node:assert/strict";
import { suite } from "../harness.ts";
import { docker, listByLabel } from "../../lib/docker.ts";
import { startEnvironment } from "../../lib/runner/environment.ts";
import { LABEL_SESSION, SESSION_ID } from "../../lib/runner/labels.ts";
import type { HelperContext, ServiceDefinition } from "../../lib/service.ts";
import { BUSYBOX_IMAGE } from "../support/images.ts";
import { leftovers } from "../support/leftovers.ts";
import { busyboxWithOwnStateDir } from "../support/state-dir.ts";

const image = { type: "registry" as const, reference: BUSYBOX_IMAGE };
const idle = { image, command: "exec sleep 600" };

/** Starts `services`, expecting failure: the error, and how long after `phase` began it came. */
async function failedStart(services: Record<string, ServiceDefinition>, phase: string) {
  let phaseAt = 0;
  const err = await startEnvironment({ services, onProgress: (m) => void (m === phase && (phaseAt = performance.now())) }).then(
    () => assert.fail("the start must fail"),
    (e: unknown) => e as Error,
  );
  return { err, ms: performance.now() - phaseAt };
}

async function assertNothingOfMine(): Promise<void> {
  const mine = [`${LABEL_SESSION}=${SESSION_ID}`];
  const left = [...await listByLabel("container", mine), ...await listByLabel("network", mine)].map((o) => o.name);
  assert.deepEqual(left, [], "left behind");
}

suite("user hooks keep deadlines; teardown goes on past any hook (real Docker engine)", busyboxWithOwnStateDir("hooks"), (t) => {
  t("a setup hook that never settles fails the start at hookTimeoutSecs, naming it; its signal aborts; nothing is left", async () => {
    let signal: AbortSignal | undefined;
    let calledAt = 0;
    let abortedAt = 0;
    const { err } = await failedStart({
      web: {
        ...idle,
        hookTimeoutSecs: 1,
        setup: (ctx) =>
          new Promise<void>(() => {
            calledAt = performance.now();
            signal = ctx.signal;
            signal.addEventListener("abort", () => (abortedAt = performance.now()));
          }),
      },
    }, "running setup");
    assert.match(err.message, /service "web": its setup hook did not settle within 1 s/);
    assert.equal(signal?.aborted, true);
    // The hook's deadline (teardown, which follows, is not part of it).
    assert.ok(abortedAt - calledAt < 1_000 + 1_000, `the hook's signal aborted ${Math.round(abortedAt - calledAt)} ms after it was called`);
    await assertNothingOfMine();
  }, { timeoutMs: 90_000 });

  t("a helpers hook that never settles: the same", async () => {
    const { err } = await failedStart({ web: { ...idle, hookTimeoutSecs: 1, helpers: () => new Promise(() => {}) } }, "connecting helpers");
    assert.match(err.message, /service "web": its helpers hook did not settle within 1 s/);
    await assertNothingOfMine();
  }, { timeoutMs: 90_000 });

  t("a prepare hook that never settles: the same, before any container exists", async () => {
    const { err } = await failedStart({ web: { ...idle, hookTimeoutSecs: 1, prepare: () => new Promise(() => {}) } }, "creating and starting containers");
    assert.match(err.message, /service "web": its prepare hook did not settle within 1 s/);
    await assertNothingOfMine();
  }, { timeoutMs: 90_000 });

  t("a dispose hook that throws synchronously: stop() still removes the container and the network", async () => {
    const env = await startEnvironment({
      services: {
        web: {
          ...idle,
          helpers: () => ({ ok: true }),
          dispose: () => {
            throw new Error("dispose blew up");
          },
        },
      },
    });
    assert.notDeepEqual(await leftovers(env.id), []);
    await env.stop();
    assert.deepEqual(await leftovers(env.id), []);
  }, { timeoutMs: 90_000 });

  t("docker rm -f racing stop(): the network is still removed (its endpoint is released moments later; removal retries)", async () => {
    for (let i = 0; i < 2; i++) {
      const env = await startEnvironment({ services: { web: idle, db: idle } });
      await Promise.all([
        docker(["rm", "-f", env.services.web.containerId, env.services.db.containerId]).catch(() => {}),
        env.stop(),
      ]);
      assert.deepEqual(await leftovers(env.id), [], `round ${i + 1}`);
    }
  }, { timeoutMs: 180_000 });

  t('service keys named like Object.prototype members ("constructor") are ordinary keys; env.hostPort("toString") is a clear error', async () => {
    const env = await startEnvironment({ services: { constructor: { ...idle, ports: [80] } } });
    try {
      assert.equal(typeof env.hostPort("constructor", 80), "number");
      assert.throws(() => env.hostPort("toString" as never, 80), /env\.hostPort\(\): no service "toString" \(services: constructor\)/);
      assert.throws(() => env.hostPort("constructor", 81), /service "constructor" does not publish port 81 \(published: 80\)/);
    } finally {
      await env.stop();
    }
    assert.deepEqual(await leftovers(env.id), []);
  }, { timeoutMs: 90_000 });

  t("a readyProbe that never settles: the deadline error names the probe, not a command that was still running", async () => {
    const { err } = await failedStart({
      web: { ...idle, readyCheck: { type: "exec", command: "false", timeoutSecs: 2 }, readyProbe: () => new Promise(() => {}) },
    }, "waiting for readiness");
    assert.match(err.message, /not ready within 2s .*last try: the service's readyProbe had not settled at the deadline/);
    await assertNothingOfMine();
  }, { timeoutMs: 90_000 });

  t("ctx.fault(): undefined while healthy; names a paused container, then a killed one with its exit code and log tail", async () => {
    let ctx: HelperContext | undefined;
    const env = await startEnvironment({
      services: { web: { image, command: "echo hello from web; exec sleep 600", helpers: (c) => void (ctx = c) } },
    });
    try {
      assert.equal(await ctx!.fault!(), undefined);
      await docker(["pause", env.services.web.containerId]);
      assert.match((await ctx!.fault!({ withinMs: 5_000 }))!, /^service "web": the container \S+ is paused \(docker pause\)/);
      await docker(["unpause", env.services.web.containerId]);
      await docker(["kill", env.services.web.containerId]);
      const fault = (await ctx!.fault!({ withinMs: 5_000 }))!; // time for the log tail on a busy machine
      assert.match(fault, /^service "web": the container \S+ exited with code 137/);
      assert.match(fault, /hello from web/);
    } finally {
      await docker(["unpause", env.services.web.containerId]).catch(() => {});
      await env.stop();
    }
    assert.deepEqual(await leftovers(env.id), []);
  }, { timeoutMs: 90_000 });
});
