// Rootless Docker (tests/support/rootless.ts), cgroup v1 as on this host:
// the runner works (start, readiness, env.fetch through rootlesskit's port
// forwarding on 127.0.0.1, nothing left), and k3s(), whose node must create
// cgroups, which such a daemon cannot delegate, fails at once naming the
// cause, before anything is created (never a node that quietly runs without
// its kubelet).

import assert from "node:assert/strict";
import { skip, suite } from "../harness.ts";
import { docker, dockerInfo, listByLabel } from "../../lib/docker.ts";
import { k3s } from "../../lib/k3s/k3s.ts";
import { run } from "../../lib/exec.ts";
import { RootlessCgroupError } from "../../lib/runner/preflight.ts";
import { startEnvironment } from "../../lib/runner/environment.ts";
import { LABEL_SESSION, SESSION_ID } from "../../lib/runner/labels.ts";
import { BUSYBOX_IMAGE, ensureBusyboxImage } from "../support/images.ts";
import { type RootlessDaemon, rootlessMissing, startRootless } from "../support/rootless.ts";
import { scriptArgv } from "../support/script.ts";
import { withEnvVar } from "../support/env-var.ts";


const mine = async () => {
  const f = [`${LABEL_SESSION}=${SESSION_ID}`];
  return [...await listByLabel("container", f), ...await listByLabel("network", f)].map((o) => o.name);
};

const missing = await rootlessMissing();
if (missing) {
  skip("rootless Docker", missing);
} else {
  suite("rootless Docker (rootlesskit, cgroup v1)", {
    setupTimeoutMs: 120_000,
    setup: async () => {
      await ensureBusyboxImage();
      const d: RootlessDaemon = await startRootless();
      const load = await run("/bin/sh", ["-c", 'docker save "$1" | DOCKER_HOST="$2" docker load -q', "sh", BUSYBOX_IMAGE, d.dockerHost], { env: { DOCKER_HOST: "" }, timeoutMs: 120_000 });
      if (load.code !== 0) {
        await d.stop();
        throw new Error(`loading ${BUSYBOX_IMAGE}: ${load.stderr}`);
      }
      return { d };
    },
    teardown: ({ d }) => d.stop(),
  }, (t) => {
    t("the runner works: readiness, env.fetch via 127.0.0.1 (rootlesskit), labels, nothing left", async ({ d }) => {
      await withEnvVar("DOCKER_HOST", d.dockerHost, async () => {
        assert.equal((await dockerInfo()).rootless, true);
        const env = await startEnvironment({
          services: {
            web: {
              image: { type: "registry", reference: BUSYBOX_IMAGE },
              command: "mkdir -p /www && echo hello-rootless > /www/index.html && exec httpd -f -p 8080 -h /www",
              ports: [8080],
              readyCheck: { type: "http", port: 8080, timeoutSecs: 30 },
            },
          },
        });
        try {
          assert.equal(env.topology.kind, "local");
          assert.equal((await (await env.fetch("http://web:8080/")).text()).trim(), "hello-rootless");
          for (const p of (await docker(["port", env.services.web.containerId])).trim().split("\n")) assert.match(p, /-> 127\.0\.0\.1:\d+$/);
        } finally {
          await env.stop();
        }
        assert.deepEqual(await mine(), []);
      });
    }, { timeoutMs: 90_000 });

    t("k3s() fails at once naming the cause (rootless, cgroup v1), before anything is created", async ({ d }) => {
      await withEnvVar("DOCKER_HOST", d.dockerHost, async () => {
        const t0 = Date.now();
        const err = await startEnvironment({ services: { k8s: k3s() } }).then(() => undefined, (e) => e as Error);
        assert.ok(err instanceof RootlessCgroupError, String(err));
        assert.match(err.message, /rootless on cgroup v1, which cannot delegate cgroups/);
        assert.match(err.message, /Use a rootful Docker daemon/);
        assert.ok(Date.now() - t0 < 5_000, `took ${Date.now() - t0} ms`);
        assert.deepEqual(await mine(), []);
      });
    });

    t("k3sbox doctor says rootless, and what to change (exit 1)", async ({ d }) => {
      const [cmd, ...args] = scriptArgv(new URL("../../cli.ts", import.meta.url).pathname);
      const r = await run(cmd, [...args, "doctor", "--json", "--image", BUSYBOX_IMAGE], { env: { DOCKER_HOST: d.dockerHost }, timeoutMs: 60_000 });
      assert.equal(r.code, 1, r.stderr);
      const j = JSON.parse(r.stdout);
      assert.equal(j.docker.rootless, true);
      assert.match(j.advice.join("\n"), /rootless Docker: the runner works, but a k3s node needs to create cgroups/);
    }, { timeoutMs: 60_000 });
  });
}
