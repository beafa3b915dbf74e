// The ssh:// topology for real: DOCKER_HOST=ssh://root@<DinD address>, sshd
// in the DinD container (tests/support/dind.ts; key only, host key
// verified). Docker publishes only on the remote host's 127.0.0.1; one ssh
// forwards the ports to 127.0.0.1 here; nothing is left afterwards, the
// ssh process included.

import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { skip, suite } from "../harness.ts";
import { docker, listByLabel } from "../../lib/docker.ts";
import { startEnvironment } from "../../lib/runner/environment.ts";
import { HostAddressError } from "../../lib/docker/host-address.ts";
import { LABEL_SESSION, SESSION_ID } from "../../lib/runner/labels.ts";
import { BUSYBOX_IMAGE, ensureBusyboxImage } from "../support/images.ts";
import { type Dind, loadIntoDind, sshMissing, startDind } from "../support/dind.ts";
import { eventually } from "../support/eventually.ts";

/** Runs `fn` with this process's environment (DOCKER_HOST, PATH) set to `env`. */
async function withEnv<T>(env: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** ssh processes of this test process forwarding to `port`s (their argv names them). */
async function forwardsTo(ports: number[]): Promise<number[]> {
  const out: number[] = [];
  for (const p of await readdir("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    const argv = (await readFile(`/proc/${p}/cmdline`, "utf8").catch(() => "")).split("\0");
    if (argv.some((a) => a.endsWith("ssh")) && ports.some((port) => argv.some((a) => a.endsWith(`:127.0.0.1:${port}`)))) out.push(Number(p));
  }
  return out;
}

const missing = await sshMissing();
if (missing) {
  skip("ssh:// topology", missing);
} else {
  suite("ssh:// topology: a daemon reached through ssh (DinD with sshd, own network namespace)", {
    setupTimeoutMs: 180_000,
    setup: async () => {
      await ensureBusyboxImage();
      const d: Dind = await startDind({ ssh: true });
      await loadIntoDind({ ...d, dockerHost: `tcp://${d.ip}:2375`, env: {} }, BUSYBOX_IMAGE).catch(async (e) => (await d.stop(), Promise.reject(e)));
      return { d };
    },
    teardown: ({ d }) => d.stop(),
  }, (t) => {
    t("published on the remote 127.0.0.1 only, forwarded through ssh, env.fetch works; ssh and everything else gone at stop", async ({ d }) => {
      await withEnv(d.env, async () => {
        const env = await startEnvironment({
          services: {
            web: {
              image: { type: "registry", reference: BUSYBOX_IMAGE },
              command: "mkdir -p /www && echo hello-over-ssh > /www/index.html && exec httpd -f -p 8080 -h /www",
              ports: [8080],
              readyCheck: { type: "http", port: 8080, timeoutSecs: 30 },
            },
          },
        });
        let remote: number;
        try {
          assert.equal(env.topology.kind, "ssh");
          assert.equal(env.services.web.host, "127.0.0.1");
          const bindings = (await docker(["port", env.services.web.containerId])).trim().split("\n");
          assert.deepEqual(bindings.map((b) => b.replace(/\d+$/, "N")), ["8080/tcp -> 127.0.0.1:N"], "published on the remote loopback only");
          remote = env.daemonPort("web", 8080);
          assert.notEqual(env.hostPort("web", 8080), remote, "dialled at a local forward, not the remote port");
          assert.equal((await (await env.fetch("http://web:8080/")).text()).trim(), "hello-over-ssh");
          assert.equal((await forwardsTo([remote])).length, 1, "one ssh forwards the ports");
          // The remote port is not reachable from here directly (it is on the remote loopback).
          const direct = await fetch(`http://${d.ip}:${remote}/`).then(() => "answered", () => "refused");
          assert.equal(direct, "refused");
          // The remote containers have no route back to this process: env.hostAddress says so, naming the topology.
          assert.throws(() => env.hostAddress, (e: Error) => e instanceof HostAddressError && /the Docker daemon is remote \(ssh: ssh:\/\//.test(e.message));
        } finally {
          await env.stop();
        }
        // The ssh process is told to end at stop and reaped when it has; on a busy machine that takes a moment.
        const left = await eventually("the ssh forward to end", async () => ((await forwardsTo([remote])).length === 0 ? [] : undefined), 10_000).catch(async () => await forwardsTo([remote]));
        assert.deepEqual(left, [], "the ssh forward ended with the environment");
        const f = [`${LABEL_SESSION}=${SESSION_ID}`];
        assert.deepEqual([...await listByLabel("container", f), ...await listByLabel("network", f)], []);
      });
    }, { timeoutMs: 90_000 });
  });
}
