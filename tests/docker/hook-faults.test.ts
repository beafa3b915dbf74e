// A service's container paused or cut off from the environment's network,
// or the Docker daemon going away, while the start runs its hooks
// (lib/runner/hook-faults.ts): the start fails within 5 s naming the fault
// and the phase, not at the hook's deadline, and leaves nothing (real Docker
// engine, locally built busybox; the daemon's going away is a socket relay
// closing, tests/support/docker-relay.ts). The hooks here
// wait on their signal, as one waiting on a frozen service's answer would.

import assert from "node:assert/strict";
import { suite } from "../harness.ts";
import { docker, listByLabel } from "../../lib/docker.ts";
import { startEnvironment } from "../../lib/runner/environment.ts";
import { LABEL_SESSION, SESSION_ID } from "../../lib/runner/labels.ts";
import type { HelperContext, ServiceDefinition } from "../../lib/service.ts";
import { BUSYBOX_IMAGE } from "../support/images.ts";
import { busyboxWithOwnStateDir } from "../support/state-dir.ts";
import { relay } from "../support/docker-relay.ts";
import { removeLabelled } from "../../lib/docker.ts";

const image = { type: "registry" as const, reference: BUSYBOX_IMAGE };

/** A hook body that does `fault` to its own container, then waits until its signal aborts (the start gave up). */
function faultThenWait(fault: (ctx: HelperContext) => Promise<unknown>, at: { ms: number }) {
  return async (ctx: HelperContext) => {
    await fault(ctx);
    at.ms = performance.now();
    await new Promise((_, reject) => ctx.signal!.addEventListener("abort", () => reject(ctx.signal!.reason), { once: true }));
  };
}

async function failedStart(services: Record<string, ServiceDefinition>): Promise<Error> {
  return await startEnvironment({ services }).then(
    async (env) => {
      await env.stop();
      assert.fail("the start must fail");
    },
    (e: unknown) => e as Error,
  );
}

async function assertNothingOfMine(): Promise<void> {
  const mine = [`${LABEL_SESSION}=${SESSION_ID}`];
  const left = [...await listByLabel("container", mine), ...await listByLabel("network", mine)].map((o) => o.name);
  assert.deepEqual(left, [], "left behind");
}

suite("a container paused or disconnected, or the daemon gone, while the hooks run fails the start at once (real Docker engine)", busyboxWithOwnStateDir("hook-faults"), (t) => {
  t("docker pause during a setup hook: the start fails within 5 s naming \"paused\" and the phase, not at hookTimeoutSecs (60 s); nothing is left", async () => {
    const at = { ms: 0 };
    const err = await failedStart({
      web: { image, command: "echo web up; exec sleep 600", hookTimeoutSecs: 60, setup: faultThenWait((ctx) => docker(["pause", ctx.container]), at) },
    });
    const ms = performance.now() - at.ms;
    assert.ok(at.ms > 0, err.message);
    assert.match(err.message, /^service "web": the container \S+ is paused \(docker pause\) during setup \(after it was ready\)/);
    assert.match(err.message, /web up/, "with its log tail");
    assert.ok(ms < 5_000, `failed ${Math.round(ms)} ms after the pause`);
    await assertNothingOfMine();
  }, { timeoutMs: 90_000 });

  t("docker network disconnect during a helpers hook: the start fails within 5 s naming the network and the phase; nothing is left", async () => {
    const at = { ms: 0 };
    let network = "";
    const err = await failedStart({
      web: {
        image,
        command: "exec sleep 600",
        hookTimeoutSecs: 60,
        helpers: faultThenWait(async (ctx) => {
          network = (await docker(["inspect", "--format", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}", ctx.container])).trim();
          await docker(["network", "disconnect", network, ctx.container]);
        }, at),
      },
    });
    const ms = performance.now() - at.ms;
    assert.ok(at.ms > 0, err.message);
    assert.match(err.message, new RegExp(`^service "web": the container \\S+ is no longer on the environment's network ${network} .* during helpers \\(after it was ready\\)`));
    assert.ok(ms < 5_000, `failed ${Math.round(ms)} ms after the disconnect`);
    await assertNothingOfMine();
  }, { timeoutMs: 90_000 });

  t("the Docker daemon going away during a setup hook (a relay to it closed): the start fails within 5 s naming the daemon and the phase", async ({ stateDir }) => {
    const path = `${stateDir}/docker-relay.sock`;
    const r = await relay(path);
    const saved = process.env.DOCKER_HOST;
    process.env.DOCKER_HOST = `unix://${path}`;
    const at = { ms: 0 };
    let err: Error;
    try {
      err = await failedStart({ web: { image, command: "exec sleep 600", hookTimeoutSecs: 60, setup: faultThenWait(() => r.close(), at) } });
    } finally {
      if (saved === undefined) delete process.env.DOCKER_HOST;
      else process.env.DOCKER_HOST = saved;
      // The daemon never went away: remove through its own socket what the start could not.
      await removeLabelled([`${LABEL_SESSION}=${SESSION_ID}`]);
    }
    const ms = performance.now() - at.ms;
    assert.ok(at.ms > 0, err.message);
    assert.match(err.message, /service "web": the Docker daemon stopped answering during setup/);
    console.error(`  reported: ${err.message.split("\n").slice(0, 3).join(" / ")}`);
    assert.ok(ms < 5_000, `failed ${Math.round(ms)} ms after the daemon went away`);
    await assertNothingOfMine();
  }, { timeoutMs: 90_000 });
});
