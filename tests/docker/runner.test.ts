// The runner against a real Docker engine, with a locally built busybox
// image (nothing pulled). Each case checks that what it started is gone.

import assert from "node:assert/strict";
import { suite } from "../harness.ts";
import { docker, dockerInfo, listByLabel } from "../../lib/docker.ts";
import { type Environment, startEnvironment } from "../../lib/runner/environment.ts";
import { LABEL_ENV, LABEL_SESSION, SESSION_ID } from "../../lib/runner/labels.ts";
import { PrivilegedRefusedError } from "../../lib/runner/preflight.ts";
import { resolvePrivilege } from "../../lib/runner/privilege.ts";
import { ServiceNotReadyError } from "../../lib/runner/readiness.ts";
import { dnsName, type ServiceDefinition } from "../../lib/service.ts";
import { BUSYBOX_IMAGE, ensureBusyboxImage } from "../support/images.ts";
import { leftovers } from "../support/leftovers.ts";
import { ENV_CHILD, startChild } from "../support/child-processes.ts";

const image = { type: "registry" as const, reference: BUSYBOX_IMAGE };

/** busybox httpd on :8080 serving /www, ready when it answers. */
const web = (extra: Partial<ServiceDefinition> = {}): ServiceDefinition => ({
  image,
  command: "mkdir -p /www && echo hello-from-{{SERVICE}} > /www/index.html && exec httpd -f -p 8080 -h /www",
  ports: [8080],
  readyCheck: { type: "http", port: 8080, path: "/", timeoutSecs: 20 },
  ...extra,
});

/**
 * Environments of this test process (its session label), so other k3sbox
 * users of the same daemon cannot disturb the leak checks.
 */
async function envIdsNow(): Promise<Set<string>> {
  const mine = [`${LABEL_SESSION}=${SESSION_ID}`];
  const objects = [...await listByLabel("network", mine), ...await listByLabel("container", mine)];
  return new Set(objects.map((o) => o.labels[LABEL_ENV]));
}

async function assertNoNewEnvironments(before: Set<string>): Promise<void> {
  const after = await envIdsNow();
  const added = [...after].filter((id) => !before.has(id));
  assert.deepEqual(added, [], `environments left behind: ${added.join(", ")}`);
}

suite("runner (real Docker engine, busybox image)", {
  setup: async () => {
    await ensureBusyboxImage();
    return {};
  },
  teardown: async () => {},
}, (t) => {
  t("start → http ready → fetch through the published port → stop leaves nothing", async () => {
    const env = await startEnvironment({ services: { web: web() } });
    try {
      const port = env.hostPort("web", 8080);
      assert.equal(env.services.web.ports[8080], port);
      const res = await fetch(`http://127.0.0.1:${port}/`);
      assert.equal((await res.text()).trim(), "hello-from-web");
      assert.ok(env.timings.ready >= 0 && env.timings.containers > 0);
      assert.deepEqual((await leftovers(env.id)).sort(), [`k3sbox-${env.id}`, `k3sbox-${env.id}-web`].sort());
      await assert.rejects(env.kubeconfigPath("web"), /service "web" has no kubeconfig/);
      assert.throws(() => env.detach(), /start the environment with \{ detached: true \} first/);
      assert.throws(() => env.hostPort("web", 9999), /service "web" does not publish port 9999 \(published: 8080\)/);
    } finally {
      await env.stop();
    }
    assert.deepEqual(await leftovers(env.id), []);
    await env.stop(); // idempotent
  }, { timeoutMs: 60_000 });

  t("exec readiness, env vars, tmpfs and argv commands", async () => {
    await using env = await startEnvironment({
      services: {
        box: {
          image,
          command: ["/bin/sh", "-c", "sleep 0.3; touch /run/ready; exec sleep 3600"],
          env: { GREETING: "hi there; $(not run)" },
          tmpfs: ["/run"],
          readyCheck: { type: "exec", command: "test -f /run/ready", timeoutSecs: 20 },
          helpers: async (ctx) => ({ greeting: (await ctx.exec(["/bin/sh", "-c", 'printf %s "$GREETING"'])).stdout, mounts: (await ctx.exec(["cat", "/proc/mounts"])).stdout }),
        } as ServiceDefinition<{ greeting: string; mounts: string }>,
      },
    });
    assert.equal(env.svc.box.greeting, "hi there; $(not run)");
    assert.match(env.svc.box.mounts, /tmpfs \/run tmpfs/);
  }, { timeoutMs: 60_000 });

  t("a container that exits during start fails at once with its logs, not at the deadline", async () => {
    const before = await envIdsNow();
    const t0 = Date.now();
    await assert.rejects(
      startEnvironment({ services: { dies: { image, command: "echo about to fail >&2; exit 3", readyCheck: { type: "exec", command: "false", timeoutSecs: 60 } } } }),
      (err: unknown) => {
        assert.ok(err instanceof ServiceNotReadyError);
        assert.match((err as Error).message, /service "dies" exited with code 3 before it was ready/);
        assert.match((err as Error).message, /about to fail/);
        return true;
      },
    );
    assert.ok(Date.now() - t0 < 30_000, "early exit must not wait for the 60 s deadline");
    await assertNoNewEnvironments(before);
  }, { timeoutMs: 60_000 });

  t("when one service fails, the others' readiness waits stop too (no polling left behind)", async () => {
    let probes = 0;
    const before = await envIdsNow();
    await assert.rejects(
      startEnvironment({
        services: {
          dies: { image, command: "sleep 0.5; exit 4", readyCheck: { type: "exec", command: "false", timeoutSecs: 60 } },
          waits: {
            image,
            command: "exec sleep 3600",
            readyCheck: { type: "exec", command: "false", timeoutSecs: 60 },
            readyProbe: () => Promise.resolve((probes++, false)),
          },
        },
      }),
      /service "dies" exited with code 4/,
    );
    const after = probes;
    await new Promise((r) => setTimeout(r, 600));
    assert.ok(after > 0, "the probe ran while waiting");
    assert.equal(probes, after, "polling continued after the environment was torn down");
    await assertNoNewEnvironments(before);
  }, { timeoutMs: 60_000 });

  t("ready-check timeout reports container state and the log tail", async () => {
    const before = await envIdsNow();
    await assert.rejects(
      startEnvironment({ services: { slow: { image, command: "for i in $(seq 1 60); do echo line-$i; done; exec sleep 3600", readyCheck: { type: "exec", command: "test -f /never", timeoutSecs: 3 } } } }),
      (err: unknown) => {
        const m = (err as Error).message;
        // Under load a docker exec can outlast the deadline: then the last try says so (with the one before, if any).
        assert.match(m, /service "slow" was not ready within 3s \(ready check `test -f \/never` never passed; last try: (exit code 1|the command was still running at the deadline(; the try before: exit code 1)?)\)/);
        assert.match(m, /state=running exitCode=0/);
        assert.match(m, /last 50 log lines:\n(.|\n)*line-60/);
        assert.doesNotMatch(m, /line-10\n/, "only the last 50 lines");
        return true;
      },
    );
    await assertNoNewEnvironments(before);
  }, { timeoutMs: 60_000 });

  t("files are written before start with the service token expanded; private keys get 0600", async () => {
    const key = "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n";
    await using env = await startEnvironment({
      services: {
        files: {
          image,
          command: "cat /etc/k3sbox/conf.txt > /tmp/seen-at-start; exec sleep 3600",
          files: [
            { path: "/etc/k3sbox/conf.txt", content: "registry={{SERVICE}}.internal:5000\n" },
            { path: "/etc/k3sbox/tls/key.pem", content: key },
          ],
          helpers: async (ctx) => ({
            seen: (await ctx.exec(["cat", "/tmp/seen-at-start"])).stdout,
            modes: (await ctx.exec(["stat", "-c", "%a %n", "/etc/k3sbox/conf.txt", "/etc/k3sbox/tls/key.pem"])).stdout,
          }),
        } as ServiceDefinition<{ seen: string; modes: string }>,
      },
    });
    assert.equal(env.svc.files.seen, "registry=files.internal:5000\n");
    assert.equal(env.svc.files.modes, "644 /etc/k3sbox/conf.txt\n600 /etc/k3sbox/tls/key.pem\n");
  }, { timeoutMs: 60_000 });

  t("services reach each other by <key> and <key>.internal; peers hook gets their addresses", async () => {
    const seen: { key: string; host: string; ip: string }[][] = [];
    await using env = await startEnvironment({
      services: {
        api: web(),
        client: {
          image,
          command: "exec sleep 3600",
          helpers: (ctx) => ({ exec: ctx.exec }),
          peers: (_ctx, peers) => Promise.resolve(void seen.push(peers)),
        } as ServiceDefinition<{ exec: (argv: string[]) => Promise<{ code: number; stdout: string }> }>,
      },
    });
    for (const host of ["api", "api.internal"]) {
      const r = await env.svc.client.exec(["wget", "-q", "-O", "-", `http://${host}:8080/`]);
      assert.equal(r.stdout.trim(), "hello-from-api", host);
    }
    assert.equal(seen.length, 1);
    assert.equal(seen[0][0].host, "api.internal");
    assert.equal(seen[0][0].ip, env.services.api.ip);
    assert.match(env.services.api.ip, /^\d+\.\d+\.\d+\.\d+$/);
  }, { timeoutMs: 60_000 });

  t("env.fetch routes declared names and <key>.internal to the published port, and records the call", async () => {
    await using env = await startEnvironment({
      services: { site: { ...web(), dnsNames: [dnsName("*.site.test", { service: "{{SERVICE}}" })] } },
    });
    const a = await env.fetch("http://hello.site.test:8080/");
    assert.equal((await a.text()).trim(), "hello-from-site");
    const b = await env.fetch("http://site.internal:8080/");
    assert.equal(b.status, 200);
    await assert.rejects(env.fetch("http://hello.site.test/"), /routes to service "site", which does not publish port 80/);
    assert.match(env.timeline(), /GET http:\/\/hello\.site\.test:8080\/ 200 \d+ms/);
  }, { timeoutMs: 60_000 });

  t("privileged services run as the host allows (--privileged or its capability fallback), or are refused before anything is created", async () => {
    const privilege = await resolvePrivilege(BUSYBOX_IMAGE, (await dockerInfo()).id);
    const before = await envIdsNow();
    const start = () => startEnvironment({ services: { k8s: { image, privileged: true, cgroupns: "host", command: "exec sleep 600" } } });
    if (!privilege.ok) {
      await assert.rejects(start(), (err: unknown) => {
        assert.ok(err instanceof PrivilegedRefusedError, String(err));
        console.error(`  (refusal as users see it) ${err.message}`);
        assert.match(err.message, /needs a privileged container.*this Docker host refuses privileged containers:\n {2}--privileged: /s);
        return true;
      });
      await assertNoNewEnvironments(before);
      return;
    }
    await using env = await start();
    const host = JSON.parse(await docker(["inspect", "--format", "{{json .HostConfig}}", env.services.k8s.containerId]));
    console.error(`  (this host) ${JSON.stringify(privilege.privilege)}`);
    if (privilege.privilege.mode === "full") assert.equal(host.Privileged, true);
    else assert.deepEqual([host.Privileged, host.CapAdd, host.CapDrop], [false, ["ALL"], privilege.privilege.drop.map((c) => `CAP_${c}`)]);
  }, { timeoutMs: 60_000 });

  t("a failing setup rolls back every container and the network", async () => {
    let envId = "";
    await assert.rejects(
      startEnvironment({
        services: {
          ok: web(),
          broken: { image, command: "exec sleep 3600", helpers: (ctx) => ctx, setup: () => Promise.reject(new Error("setup exploded")) },
        },
        onProgress: () => {},
      }).then((e) => (envId = e.id)),
      /setup exploded/,
    );
    assert.equal(envId, "");
    // This process's own (the same test may run under another runtime meanwhile).
    const all = await listByLabel("container", ["k3sbox.service=broken", `${LABEL_SESSION}=${SESSION_ID}`]);
    assert.deepEqual(all.map((c) => c.name), []);
  }, { timeoutMs: 60_000 });

  t("SIGINT to a process running an environment removes it before the process exits", async () => {
    const child = startChild(ENV_CHILD);
    const envId = await child.ready;
    assert.equal((await leftovers(envId)).length, 2);
    process.kill(child.pid, "SIGINT");
    assert.equal(await child.exited, 130);
    assert.deepEqual(await leftovers(envId), []);
  }, { timeoutMs: 60_000 });

  t("the reaper removes a SIGKILLed process's environment within seconds", async () => {
    const child = startChild(ENV_CHILD);
    const envId = await child.ready;
    assert.equal((await leftovers(envId)).length, 2);
    process.kill(child.pid, "SIGKILL");
    await child.exited;
    const deadline = Date.now() + 20_000;
    while ((await leftovers(envId)).length > 0) {
      assert.ok(Date.now() < deadline, `still there after 20 s: ${(await leftovers(envId)).join(", ")}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }, { timeoutMs: 60_000 });

  t("a bad ca option is refused with the reason and leaves nothing behind", async () => {
    const before = await envIdsNow();
    await assert.rejects(
      startEnvironment({ services: { web: web() }, ca: { certPem: "not a certificate", keyPem: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n" } }),
      /certificate|PEM|CA/i,
    );
    await assertNoNewEnvironments(before);
  }, { timeoutMs: 60_000 });

  t("four environments start in parallel without collisions", async () => {
    const envs = await Promise.all([1, 2, 3, 4].map(() => startEnvironment({ services: { web: web() } })));
    try {
      assert.equal(new Set(envs.map((e) => e.id)).size, 4);
      assert.equal(new Set(envs.map((e) => e.hostPort("web", 8080))).size, 4);
      const bodies = await Promise.all(envs.map(async (e) => (await fetch(`http://127.0.0.1:${e.hostPort("web", 8080)}/`)).text()));
      assert.deepEqual(bodies.map((b) => b.trim()), Array(4).fill("hello-from-web"));
    } finally {
      await Promise.all(envs.map((e: Environment<Record<string, ServiceDefinition>>) => e.stop()));
    }
    for (const e of envs) assert.deepEqual(await leftovers(e.id), []);
  }, { timeoutMs: 90_000 });
});
