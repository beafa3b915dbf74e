// The tcp:// topology for real: a second Docker daemon in its own network
// namespace (tests/support/dind.ts: Debian's dockerd in a container, on
// tcp://<ip>:2375, and on :2376 with TLS verified both ways). Through
// DOCKER_HOST the runner publishes on that address (and the daemon host's
// 127.0.0.1) only, this process reaches the services there, and nothing is
// left on that daemon afterwards.
// scripts/test.sh shares one plain and one TLS daemon between the test files
// of a run; a file run alone starts and removes its own (about 3 s each).

import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "../../lib/exec.ts";
import { suite } from "../harness.ts";
import { docker, execIn, listByLabel } from "../../lib/docker.ts";
import { startEnvironment } from "../../lib/runner/environment.ts";
import { HostAddressError } from "../../lib/docker/host-address.ts";
import { LABEL_SESSION, SESSION_ID } from "../../lib/runner/labels.ts";
import type { ServiceDefinition } from "../../lib/service.ts";
import { BUSYBOX_IMAGE, ensureBusyboxImage } from "../support/images.ts";
import { type Dind, loadIntoDind, sharedOrOwnDind } from "../support/dind.ts";

const web: ServiceDefinition = {
  image: { type: "registry", reference: BUSYBOX_IMAGE },
  command: "mkdir -p /www && echo hello-from-{{SERVICE}} > /www/index.html && exec httpd -f -p 8080 -h /www",
  ports: [8080],
  readyCheck: { type: "http", port: 8080, path: "/", timeoutSecs: 30 },
};

const SAVED = ["DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"] as const;

/** Runs `fn` with this process (runner, CLI calls) pointed at the DinD daemon. */
async function onDaemon<T>(d: Dind, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(SAVED.map((k) => [k, process.env[k]]));
  for (const k of SAVED) delete process.env[k];
  Object.assign(process.env, d.env);
  try {
    return await fn();
  } finally {
    for (const k of SAVED) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  }
}

async function mineOn(d: Dind): Promise<string[]> {
  return await onDaemon(d, async () => {
    const f = [`${LABEL_SESSION}=${SESSION_ID}`];
    return [...await listByLabel("container", f), ...await listByLabel("network", f)].map((o) => o.name);
  });
}

async function runnerOnDaemon(d: Dind): Promise<void> {
  await onDaemon(d, async () => {
    const env = await startEnvironment({ services: { web } });
    try {
      assert.equal(env.topology.kind, "tcp");
      assert.equal(env.services.web.host, d.ip);
      assert.deepEqual(env.topology.tlsSans, [d.ip]);
      // Published on the DinD host's address and its loopback, nowhere wider.
      const bindings = (await docker(["port", env.services.web.containerId])).trim().split("\n").sort();
      assert.equal(bindings.length, 2, bindings.join("; "));
      assert.match(bindings.join("\n"), new RegExp(`^8080/tcp -> 127\\.0\\.0\\.1:\\d+\\n8080/tcp -> ${d.ip.replace(/\./g, "\\.")}:\\d+$`));
      const res = await env.fetch("http://web:8080/");
      assert.equal((await res.text()).trim(), "hello-from-web");
      const direct = await fetch(`http://${d.ip}:${env.hostPort("web", 8080)}/`);
      assert.equal((await direct.text()).trim(), "hello-from-web");
      // The daemon-side port is on the DinD host's loopback: not reachable from here.
      assert.notEqual(env.daemonPort("web", 8080), undefined);
      // Its containers have no route back to this process: no host.k3sbox.internal, and env.hostAddress says why.
      assert.throws(() => env.hostAddress, (e: Error) => e instanceof HostAddressError && /the Docker daemon is remote \(tcp: tcp:\/\//.test(e.message));
      assert.doesNotMatch((await execIn(env.services.web.containerId, ["cat", "/etc/hosts"])).stdout, /host\.k3sbox\.internal/);
    } finally {
      await env.stop();
    }
  });
  assert.deepEqual(await mineOn(d), [], "left on the DinD daemon");
}

const dinds: Dind[] = [];

suite("tcp:// topology: a second daemon in its own network namespace (DinD, Debian dockerd 20.10)", {
  setupTimeoutMs: 240_000,
  setup: async () => {
    await ensureBusyboxImage();
    return {};
  },
  teardown: async () => {
    for (const d of dinds) await d.stop();
  },
}, (t) => {
  t("tcp://<ip>:2375: runner publishes on that address only, env.fetch and a plain fetch reach it, nothing left", async () => {
    const d = await sharedOrOwnDind();
    dinds.push(d);
    await loadIntoDind(d, BUSYBOX_IMAGE);
    await runnerOnDaemon(d);
  }, { timeoutMs: 180_000 });

  t("tcp://<ip>:2376 with TLS verified both ways (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH): the same", async () => {
    const d = await sharedOrOwnDind({ tls: true });
    dinds.push(d);
    await loadIntoDind(d, BUSYBOX_IMAGE);
    // Without the client certificate the daemon refuses: TLS is really in force.
    const bare = await onDaemon({ ...d, env: { DOCKER_HOST: d.dockerHost } }, () => docker(["version"]).then(() => "answered", (e) => String(e)));
    assert.notEqual(bare, "answered");
    await runnerOnDaemon(d);
  }, { timeoutMs: 180_000 });

  t("a Docker context (docker context create, DOCKER_CONTEXT; its own DOCKER_CONFIG) pointing at the daemon is followed like DOCKER_HOST", async () => {
    const d = await sharedOrOwnDind();
    dinds.push(d);
    await loadIntoDind(d, BUSYBOX_IMAGE);
    const config = await mkdtemp(join(tmpdir(), "k3sbox-docker-config-"));
    try {
      const created = await run("docker", ["context", "create", "k3sbox-test-dind", "--docker", `host=${d.dockerHost}`], { env: { DOCKER_CONFIG: config, DOCKER_HOST: "" } });
      assert.equal(created.code, 0, created.stderr);
      const saved = { DOCKER_HOST: process.env.DOCKER_HOST, DOCKER_CONFIG: process.env.DOCKER_CONFIG, DOCKER_CONTEXT: process.env.DOCKER_CONTEXT };
      delete process.env.DOCKER_HOST;
      Object.assign(process.env, { DOCKER_CONFIG: config, DOCKER_CONTEXT: "k3sbox-test-dind" });
      try {
        const env = await startEnvironment({ services: { web } });
        try {
          assert.equal(env.topology.kind, "tcp");
          assert.match(env.topology.reason, /the active Docker context "k3sbox-test-dind" is tcp:\/\//);
          assert.equal(env.services.web.host, d.ip);
          assert.equal((await (await env.fetch("http://web:8080/")).text()).trim(), "hello-from-web");
        } finally {
          await env.stop();
        }
      } finally {
        for (const [k, v] of Object.entries(saved)) {
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
        }
      }
    } finally {
      await rm(config, { recursive: true, force: true });
    }
    assert.deepEqual(await mineOn(d), [], "left on the DinD daemon");
  }, { timeoutMs: 180_000 });
});
