// The topology decision against the real local Docker engine: the local
// topology listens on 127.0.0.1 only; a wrong K3SBOX_HOST (or host option)
// fails within 5 s naming the address, and leaves nothing behind.

import assert from "node:assert/strict";
import { suite } from "../harness.ts";
import { docker, listByLabel } from "../../lib/docker.ts";
import { startEnvironment } from "../../lib/runner/environment.ts";
import { LABEL_ENV, LABEL_SESSION, SESSION_ID } from "../../lib/runner/labels.ts";
import { UnreachableError } from "../../lib/runner/reach.ts";
import { TopologyError } from "../../lib/docker/topology.ts";
import type { ServiceDefinition } from "../../lib/service.ts";
import { BUSYBOX_IMAGE, ensureBusyboxImage } from "../support/images.ts";
import { deadlineMs } from "../support/load.ts";
import { withEnvVar } from "../support/env-var.ts";

const web: ServiceDefinition = {
  image: { type: "registry", reference: BUSYBOX_IMAGE },
  command: "mkdir -p /www && echo hi > /www/index.html && exec httpd -f -p 8080 -h /www",
  ports: [8080],
  readyCheck: { type: "http", port: 8080, path: "/", timeoutSecs: 60 },
};

/** This process's environments (its session label). */
async function mine(): Promise<string[]> {
  const f = [`${LABEL_SESSION}=${SESSION_ID}`];
  const objs = [...await listByLabel("container", f), ...await listByLabel("network", f)];
  return [...new Set(objs.map((o) => o.labels[LABEL_ENV]))];
}


suite("topology (real Docker engine, busybox image)", {
  setup: async () => {
    await ensureBusyboxImage();
    return {};
  },
  teardown: async () => {},
}, (t) => {
  t("local topology: every published port binds 127.0.0.1 only; env.topology says why", async () => {
    await using env = await startEnvironment({ services: { web } });
    assert.equal(env.topology.kind, "local");
    assert.equal(env.services.web.host, "127.0.0.1");
    const bindings = (await docker(["port", env.services.web.containerId])).trim().split("\n");
    assert.ok(bindings.length >= 1);
    for (const b of bindings) assert.match(b, /^8080\/tcp -> 127\.0\.0\.1:\d+$/, `published wider than 127.0.0.1: ${b}`);
    assert.equal(env.daemonPort("web", 8080), env.hostPort("web", 8080));
    assert.equal((await (await env.fetch("http://web:8080/")).text()).trim(), "hi");
    assert.ok(env.timings.reach >= 0, "the reach check ran");
  });

  t("a wrong K3SBOX_HOST (an address the daemon's host does not have) fails within 5 s naming it; nothing left", async () => {
    const before = await mine();
    const t0 = Date.now();
    // 192.0.2.1 is TEST-NET-1: never assigned, so Docker cannot bind it (no packet is sent).
    const err = await withEnvVar("K3SBOX_HOST", "192.0.2.1", () => startEnvironment({ services: { web } }).then(() => undefined, (e) => e as Error));
    const ms = Date.now() - t0;
    assert.ok(err instanceof TopologyError, `expected a TopologyError, got ${err}`);
    assert.match(err.message, /192\.0\.2\.1/);
    assert.match(err.message, /K3SBOX_HOST/);
    assert.ok(ms < deadlineMs(), `took ${ms} ms`);
    assert.deepEqual((await mine()).filter((e) => !before.includes(e)), []);
  });

  t("K3SBOX_HOST that publishes fine but is not where this process reaches them fails within 5 s naming it; nothing left", async () => {
    const before = await mine();
    const t0 = Date.now();
    // Published on 127.0.0.1 (as locally), dialled at 127.0.0.2 where nothing listens.
    const err = await withEnvVar("K3SBOX_HOST", "127.0.0.2,127.0.0.1", () => startEnvironment({ services: { web } }).then(() => undefined, (e) => e as Error));
    const ms = Date.now() - t0;
    assert.ok(err instanceof UnreachableError, `expected an UnreachableError, got ${err}`);
    assert.match(err.message, /cannot reach the environment's containers from this process: tried 127\.0\.0\.2:\d+ \(service "web" port 8080\)/);
    assert.match(err.message, /Topology: override — K3SBOX_HOST says/);
    assert.match(err.message, /unset K3SBOX_HOST/);
    assert.ok(err.waitedMs <= 2_500, `the probe waited ${err.waitedMs} ms (window 2 s)`);
    assert.ok(ms < deadlineMs(), `took ${ms} ms`);
    assert.deepEqual((await mine()).filter((e) => !before.includes(e)), []);
  });

  t("the host option overrides K3SBOX_HOST and is named in the error", async () => {
    const err = await withEnvVar("K3SBOX_HOST", "127.0.0.1", () =>
      startEnvironment({ services: { web }, host: "127.0.0.3,127.0.0.1" }).then(() => undefined, (e) => e as Error));
    assert.ok(err instanceof UnreachableError, String(err));
    assert.match(err.message, /startEnvironment\(\{ host \}\) says to reach the containers at 127\.0\.0\.3/);
  });
});
