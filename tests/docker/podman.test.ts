// Podman 4.x rootful through its Docker-compatible socket, driven by the
// docker CLI (tests/support/podman.ts): the runner's labels, networks and
// aliases, exec, published ports (127.0.0.1 only), env.fetch, cleanup and
// the privilege decision work; Podman's "unable to upgrade to tcp, received
// 409" is seen through; and a Podman whose default rlimits exceed the host's
// hard limits fails at once naming the setting to change.

import assert from "node:assert/strict";
import { skip, suite } from "../harness.ts";
import { docker, EngineConfigError, listByLabel } from "../../lib/docker.ts";
import { startEnvironment } from "../../lib/runner/environment.ts";
import { LABEL_ENV, LABEL_SESSION, SESSION_ID } from "../../lib/runner/labels.ts";
import type { ServiceDefinition } from "../../lib/service.ts";
import { BUSYBOX_IMAGE, ensureBusyboxImage } from "../support/images.ts";
import { podmanMissing, type PodmanService, startPodman } from "../support/podman.ts";
import { run } from "../../lib/exec.ts";
import { withEnvVar } from "../support/env-var.ts";

const web: ServiceDefinition = {
  image: { type: "registry", reference: BUSYBOX_IMAGE },
  command: "mkdir -p /www && echo hello-from-{{SERVICE}} > /www/index.html && exec httpd -f -p 8080 -h /www",
  ports: [8080],
  readyCheck: { type: "http", port: 8080, path: "/", timeoutSecs: 30 },
};


const missing = await podmanMissing();
if (missing) {
  skip("Podman 4.x through its Docker API", missing);
} else {
  suite("Podman 4.x rootful through its Docker API, with the docker CLI", {
    setupTimeoutMs: 180_000,
    setup: async () => {
      await ensureBusyboxImage();
      const good = await startPodman({ ulimits: true });
      const bad = await startPodman({ ulimits: false }).catch(async (e) => (await good.stop(), Promise.reject(e)));
      const load = await run("/bin/sh", ["-c", 'docker save "$1" | DOCKER_HOST="$2" docker load -q', "sh", BUSYBOX_IMAGE, good.dockerHost], { env: { DOCKER_HOST: "" }, timeoutMs: 120_000 });
      assert.equal(load.code, 0, load.stderr);
      return { good, bad } as { good: PodmanService; bad: PodmanService };
    },
    teardown: async ({ good, bad }) => {
      await good.stop();
      await bad.stop();
    },
  }, (t) => {
    t("runner: privileged decision, labels, network aliases, exec, 127.0.0.1-only ports, env.fetch; nothing left", async ({ good }) => {
      await withEnvVar("DOCKER_HOST", good.dockerHost, async () => {
        const engine = (await docker(["version", "--format", "{{range .Server.Components}}{{.Name}} {{end}}"])).trim();
        assert.match(engine, /Podman Engine/);
        const progress: string[] = [];
        const env = await startEnvironment({
          onProgress: (m) => progress.push(m),
          services: {
            api: web,
            client: { image: { type: "registry", reference: BUSYBOX_IMAGE }, command: "exec sleep 3600", privileged: true },
          },
        });
        let envId = env.id;
        try {
          envId = env.id;
          const labelled = await listByLabel("container", [`${LABEL_ENV}=${env.id}`, `${LABEL_SESSION}=${SESSION_ID}`]);
          assert.equal(labelled.length, 2, "both containers carry the environment's labels");
          // Podman runs --privileged here (the 409 of its `docker run` is seen through by the probe).
          assert.ok(!progress.some((m) => /refuses --privileged/.test(m)), progress.join("\n"));
          for (const host of ["api", "api.internal"]) {
            const r = await run("docker", ["exec", env.services.client.containerId, "wget", "-qO-", `http://${host}:8080/`]);
            assert.equal(r.stdout.trim(), "hello-from-api", `${host}: ${r.stderr}`);
          }
          const ports = (await docker(["port", env.services.api.containerId])).trim().split("\n");
          for (const p of ports) assert.match(p, /^8080\/tcp -> 127\.0\.0\.1:\d+$/);
          assert.equal((await (await env.fetch("http://api:8080/")).text()).trim(), "hello-from-api");
        } finally {
          await env.stop();
        }
        const f = [`${LABEL_ENV}=${envId}`];
        assert.deepEqual([...await listByLabel("container", f), ...await listByLabel("network", f)], []);
      });
    }, { timeoutMs: 120_000 });

    t("rlimits above the host's hard limit: fails at once naming default_ulimits (the 409 seen through), nothing left", async ({ bad }) => {
      await withEnvVar("DOCKER_HOST", bad.dockerHost, async () => {
        const t0 = Date.now();
        const err = await startEnvironment({ services: { client: { image: { type: "registry", reference: BUSYBOX_IMAGE }, command: "sleep 1", privileged: true } } })
          .then(() => undefined, (e) => e as Error);
        assert.ok(err instanceof EngineConfigError, `expected EngineConfigError, got ${err?.stack}`);
        assert.match(err.message, /rlimit \((nofile|nproc)\) above this host's hard limit/);
        assert.match(err.message, /default_ulimits in \/etc\/containers\/containers\.conf/);
        assert.ok(Date.now() - t0 < 10_000, `took ${Date.now() - t0} ms`);
        const mine = [`${LABEL_SESSION}=${SESSION_ID}`];
        assert.deepEqual([...await listByLabel("container", mine), ...await listByLabel("network", mine)].map((o) => o.name), []);
      });
    }, { timeoutMs: 60_000 });
  });
}
