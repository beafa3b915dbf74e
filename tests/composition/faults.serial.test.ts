// Faults named as faults, deadlines kept: the node container of a running
// k3s() environment is paused (`docker pause`), cut off from its network and
// killed while a wait is running; each wait ends within its deadline + 1 s
// and its error says what happened to the container. And paused while
// k3s()'s own setup runs: the start fails within 5 s naming it. The k3s-compatible test
// image, unprivileged (kwok), so the real kube-apiserver is what freezes.
// Serial (scripts/test.sh runs it beside the light jobs only): Docker's own
// answer about a container is part of every report here, and with a dozen
// clusters booting beside it dockerd takes seconds to give it.

import assert from "node:assert/strict";
import { skip, suite, test } from "../harness.ts";
import { containerLifecycle, docker, dockerResult } from "../../lib/docker.ts";
import { k3s, type K3sHelpers } from "../../lib/k3s/k3s.ts";
import { WaitError } from "../../lib/kube/waits.ts";
import { type Environment, startEnvironment } from "../../lib/runner/environment.ts";
import { LABEL_ENV } from "../../lib/runner/labels.ts";
import type { Recorder } from "../../lib/recorder.ts";
import type { ServiceDefinition } from "../../lib/service.ts";
import { NO_IMAGE_REASON, TESTBED_IMAGE } from "../support/controlplane.ts";
import { leftovers } from "../support/leftovers.ts";
import { ownIngressDomain } from "../support/cli.ts";

const SLACK_MS = 1_000;
type Env = Environment<{ k8s: ServiceDefinition<K3sHelpers> }>;

/** Starts `wait`, does `fault` after `afterMs`, and returns the wait's error and how long it ran. */
async function faultDuringWait(wait: () => Promise<unknown>, fault: () => Promise<unknown>, afterMs = 1_000) {
  const t0 = performance.now();
  const pending = wait().then(() => assert.fail("the wait must fail"), (e: unknown) => e as Error);
  await new Promise((r) => setTimeout(r, afterMs));
  await fault();
  const err = await pending;
  return { err, ms: performance.now() - t0 };
}

if (!TESTBED_IMAGE) {
  skip("faults during waits on the test image", NO_IMAGE_REASON);
} else {
  const domain = ownIngressDomain()[1];

  test("docker pause during k3s() setup (at its first API request): the start fails within 5 s of the pause naming \"paused\", not a timeout or ECONNRESET, and leaves nothing", async () => {
    const base = k3s({ registry: false, readyTimeoutSecs: 90 });
    const lastSeq = (r: Recorder) => r.events().at(-1)?.seq ?? 0;
    let pausedAt = 0;
    let node = "";
    let envId = "";
    const def: ServiceDefinition<K3sHelpers> = {
      ...base,
      image: { type: "registry", reference: TESTBED_IMAGE! },
      privileged: false,
      // An observer of the setup phase: k3s()'s own setup runs; at its first request the node is paused.
      setup: async (ctx) => {
        node = ctx.container;
        envId = (await docker(["inspect", "--format", `{{index .Config.Labels "${LABEL_ENV}"}}`, node])).trim();
        const before = lastSeq(ctx.recorder);
        const pausing = (async () => {
          const until = Date.now() + 30_000;
          while (lastSeq(ctx.recorder) === before && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
          await containerLifecycle(node, "pause");
          pausedAt = performance.now();
        })();
        await Promise.all([base.setup!(ctx), pausing]);
      },
    };
    const err = await startEnvironment({ services: { k8s: def } }).then(
      async (env) => {
        await env.stop();
        assert.fail("the start must fail: the node was paused during setup");
      },
      (e: unknown) => e as Error,
    );
    const ms = performance.now() - pausedAt;
    try {
      assert.ok(pausedAt > 0, `the node was paused during setup (${err.message})`);
      assert.match(err.message, /^service "k8s": the container \S+ is paused \(docker pause\) during setup \(after it was ready\)/);
      assert.doesNotMatch(err.message.split("\n")[0], /ECONNRESET|timed out|within \d+ ?s|deadline/);
      assert.ok(ms < 5_000, `failed ${Math.round(ms)} ms after the pause`);
      assert.deepEqual(await leftovers(envId), [], "nothing is left: container and network removed");
    } finally {
      if (node) await dockerResult(["rm", "--force", node]);
      if (envId) await import("../../lib/runner/prune.ts").then((p) => p.removeEnvironment(envId));
    }
  }, { timeoutMs: 240_000 });

  suite("faults during waits: pause, network removal, kill of the node (k3s-compatible test image, unprivileged)", {
    setupTimeoutMs: 180_000,
    setup: async () => {
      const env: Env = await startEnvironment({
        services: {
          k8s: { ...k3s({ registry: false, ingressDomains: [domain], readyTimeoutSecs: 90 }), image: { type: "registry", reference: TESTBED_IMAGE! }, privileged: false },
        },
      });
      return { env, node: env.services.k8s.containerId };
    },
    teardown: async ({ env, node }) => {
      await docker(["unpause", node]).catch(() => {});
      await env.stop();
      assert.deepEqual(await leftovers(env.id), [], "stop() leaves nothing");
    },
  }, (t) => {
    t("docker pause during waitFor: ends at its deadline + ≤1 s, the error says the container is paused", async ({ env, node }) => {
      try {
        const { err, ms } = await faultDuringWait(
          () => env.svc.k8s.waitFor("pod/never-created", "Ready", { timeoutMs: 4_000 }),
          () => containerLifecycle(node, "pause"),
        );
        assert.ok(err instanceof WaitError, `${err.name}: ${err.message}`);
        assert.ok(err.timedOut);
        assert.match(err.message, /not met within 4s/);
        assert.match(err.message, /the container \S+ is paused \(docker pause\)/);
        assert.ok(ms < 4_000 + SLACK_MS, `ended after ${Math.round(ms)} ms, deadline 4000 ms`);
      } finally {
        await docker(["unpause", node]);
      }
      // Unpaused, the same client works again.
      assert.equal((await env.svc.k8s.client.core.listNode()).items.length, 1);
    }, { timeoutMs: 60_000 });

    t("docker pause during rollout: the same, for rollout()", async ({ env, node }) => {
      try {
        const { err, ms } = await faultDuringWait(
          () => env.svc.k8s.rollout("deployment/never-created", { namespace: "default", timeoutMs: 3_000 }),
          () => containerLifecycle(node, "pause"),
        );
        assert.ok(err instanceof WaitError, `${err.name}: ${err.message}`);
        assert.match(err.message, /the container \S+ is paused \(docker pause\)/);
        assert.ok(ms < 3_000 + SLACK_MS, `ended after ${Math.round(ms)} ms, deadline 3000 ms`);
      } finally {
        await docker(["unpause", node]);
      }
    }, { timeoutMs: 60_000 });

    t("docker network disconnect during waitFor: the error says the container left the environment's network", async ({ env, node }) => {
      try {
        const { err, ms } = await faultDuringWait(
          () => env.svc.k8s.waitFor("pod/never-created", "Ready", { timeoutMs: 4_000 }),
          () => docker(["network", "disconnect", env.network, node]),
        );
        assert.match(err.message, /is no longer on the environment's network/);
        assert.ok(ms < 4_000 + SLACK_MS, `ended after ${Math.round(ms)} ms, deadline 4000 ms`);
      } finally {
        await docker(["network", "connect", "--alias", "k8s", "--alias", "k8s.internal", env.network, node]).catch(() => {});
      }
    }, { timeoutMs: 60_000 });

    // Last: the node does not come back.
    t("docker kill during waitFor: the error says the container exited (137), with its log tail, well before the deadline", async ({ env, node }) => {
      const { err, ms } = await faultDuringWait(
        () => env.svc.k8s.waitFor("pod/never-created", "Ready", { timeoutMs: 20_000 }),
        () => docker(["kill", node]),
      );
      assert.match(err.message, /the container \S+ exited with code 137/);
      assert.match(err.message, /log lines of/);
      assert.ok(ms < 5_000, `ended after ${Math.round(ms)} ms`);
    }, { timeoutMs: 60_000 });
  });
}
