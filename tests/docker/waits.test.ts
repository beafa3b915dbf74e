// Every wait of a start keeps its deadline and says what it saw last; a
// container that dies, is paused or loses its network is reported as such,
// whichever phase is running. Real Docker engine, locally built busybox.

import assert from "node:assert/strict";
import { readdir, readFile, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { suite } from "../harness.ts";
import { type KubeConfig, loadKubernetesClient, parseYaml } from "../../deps.ts";
import { docker, listByLabel } from "../../lib/docker.ts";
import { run } from "../../lib/exec.ts";
import { startEnvironment } from "../../lib/runner/environment.ts";
import { LABEL_SERVICE, LABEL_SESSION, SESSION_ID } from "../../lib/runner/labels.ts";
import { ServiceNotReadyError } from "../../lib/runner/readiness.ts";
import type { ServiceDefinition } from "../../lib/service.ts";
import { BUSYBOX_IMAGE } from "../support/images.ts";
import { leftovers } from "../support/leftovers.ts";
import { busyboxWithOwnStateDir } from "../support/state-dir.ts";

const image = { type: "registry" as const, reference: BUSYBOX_IMAGE };

/** Starts `services`, expecting a ServiceNotReadyError; returns it and how long the ready phase ran before it. */
async function failedStart(services: Record<string, ServiceDefinition>, during?: (key: string) => Promise<void>) {
  let readyAt = 0;
  const t0 = performance.now();
  const pending = startEnvironment({
    services,
    onProgress: (m) => {
      if (m === "waiting for readiness" && !readyAt) {
        readyAt = performance.now();
        if (during) void during(Object.keys(services)[0]);
      }
    },
  });
  const err = await pending.then(() => assert.fail("the start must fail"), (e: unknown) => e as Error);
  const end = performance.now();
  assert.ok(err instanceof ServiceNotReadyError, `${err.name}: ${err.message}`);
  // The wait's own duration (reporting included), without the removal that follows a failed start.
  return { err, readyMs: err.waitedMs ?? Math.round(end - readyAt), totalMs: Math.round(end - t0) };
}

/** This session's container for a service, once it exists. */
async function containerOf(key: string): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const [c] = await listByLabel("container", [`${LABEL_SESSION}=${SESSION_ID}`, `${LABEL_SERVICE}=${key}`]);
    if (c) return c.name;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no container for ${key}`);
}

async function assertNothingOfMine(): Promise<void> {
  const mine = [`${LABEL_SESSION}=${SESSION_ID}`];
  const left = [...await listByLabel("container", mine), ...await listByLabel("network", mine)].map((o) => o.name);
  assert.deepEqual(left, [], "left behind");
}

/** A KubeConfig as a service's helpers carry it; this stub service has no API server behind it. */
async function stubKubeconfig(server: string): Promise<KubeConfig> {
  const kc = new (await loadKubernetesClient()).KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "default", server, caData: btoa("-----BEGIN CERTIFICATE-----\nstub\n-----END CERTIFICATE-----\n"), skipTLSVerify: false }],
    users: [{ name: "default", token: "stub-token" }],
    contexts: [{ name: "default", cluster: "default", user: "default" }],
    currentContext: "default",
  });
  return kc;
}

suite("waits keep their deadlines; exits, pauses and lost networks are named (real Docker engine)", busyboxWithOwnStateDir("waits"), (t) => {
  t("an exec ready check that hangs ends within its deadline + 1 s and says the try timed out", async () => {
    const { err, readyMs, totalMs } = await failedStart({ hangs: { image, command: "exec sleep 600", readyCheck: { type: "exec", command: "sleep 30", timeoutSecs: 2 } } });
    console.error(`  ready wait ended after ${readyMs} ms (deadline 2000 ms), start failed after ${totalMs} ms`);
    assert.ok(readyMs <= 3_000, `ended after ${readyMs} ms`);
    assert.match(err.message, /was not ready within 2s \(ready check `sleep 30` never passed; last try: (the command was still running at the deadline|docker exec: timed out)\)/);
    await assertNothingOfMine();
  });

  t("an http ready check on a port nobody serves ends within its deadline + 1 s with the last error", async () => {
    const { err, readyMs, totalMs } = await failedStart({ mute: { image, command: "exec sleep 600", ports: [8080], readyCheck: { type: "http", port: 8080, timeoutSecs: 2 } } });
    console.error(`  ready wait ended after ${readyMs} ms (deadline 2000 ms), start failed after ${totalMs} ms: ${err.message.split("\n")[0]}`);
    assert.ok(readyMs <= 3_000, `ended after ${readyMs} ms`);
    assert.match(err.message, /not ready within 2s \(ready check GET \/ on port 8080 never passed; last try: \S+/);
    await assertNothingOfMine();
  });

  t("a host-side ready probe that never answers cannot stretch the deadline", async () => {
    const { err, readyMs, totalMs } = await failedStart({
      probe: { image, command: "exec sleep 600", readyCheck: { type: "exec", command: "false", timeoutSecs: 2 }, readyProbe: () => new Promise(() => {}) },
    });
    console.error(`  ready wait ended after ${readyMs} ms (deadline 2000 ms), start failed after ${totalMs} ms`);
    assert.ok(readyMs <= 3_000, `ended after ${readyMs} ms`);
    assert.match(err.message, /not ready within 2s/);
    await assertNothingOfMine();
  });

  t("a container paused during readiness is reported as paused, not as a timeout", async () => {
    const { err, readyMs } = await failedStart(
      // An http check, probed from the host: an exec starting inside the container as it is
      // frozen wedges it for good on Docker 20.10 (runc init stuck in the freezer).
      { frozen: { image, command: "exec sleep 600", ports: [8080], readyCheck: { type: "http", port: 8080, timeoutSecs: 60 } } },
      async (key) => void await docker(["pause", await containerOf(key)]),
    );
    console.error(`  reported after ${readyMs} ms: ${err.message.split("\n")[0]}`);
    assert.match(err.message, /service "frozen": its container \S+ was paused \(docker pause\) while waiting for readiness/);
    assert.match(err.message, /state=paused/);
    await assertNothingOfMine();
  });

  t("a container cut off from the environment's network during readiness is reported as such", async () => {
    const { err, readyMs } = await failedStart(
      { cut: { image, command: "exec sleep 600", readyCheck: { type: "exec", command: "false", timeoutSecs: 60 } } },
      async (key) => {
        const name = await containerOf(key);
        const network = name.replace(/-cut$/, "");
        await docker(["network", "disconnect", "--force", network, name]);
      },
    );
    console.error(`  reported after ${readyMs} ms: ${err.message.split("\n")[0]}`);
    assert.match(err.message, /service "cut": its container \S+ is no longer on the environment's network k3sbox-[a-f0-9]{10} \(removed or disconnected\)/);
    await assertNothingOfMine();
  });

  t("a container that dies during setup fails the start with its log tail, without waiting for setup", async () => {
    let setupAborted = false;
    const { err } = await failedStart({
      dies: {
        image,
        command: "touch /ready; sleep 1; echo giving up >&2; exit 7",
        readyCheck: { type: "exec", command: "test -f /ready", timeoutSecs: 20 },
        // Waits until the environment is stopped: without the exit watcher this start would never end.
        setup: (ctx) => new Promise<void>((r) => ctx.signal.addEventListener("abort", () => ((setupAborted = true), r()))),
      },
    });
    assert.match(err.message, /service "dies" exited with code 7 during setup \(after it was ready\)/);
    assert.match(err.message, /giving up/);
    assert.ok(setupAborted, "the setup hook was told to give up");
    await assertNothingOfMine();
  });

  t("a container that dies while helpers connect fails the start the same way", async () => {
    const { err } = await failedStart({
      dies: {
        image,
        command: "touch /ready; sleep 1; echo bye >&2; exit 5",
        readyCheck: { type: "exec", command: "test -f /ready", timeoutSecs: 20 },
        helpers: (ctx) => new Promise((r) => ctx.signal.addEventListener("abort", () => r({}))),
      },
    });
    assert.match(err.message, /service "dies" exited with code 5 during helpers/);
    assert.match(err.message, /bye/);
    await assertNothingOfMine();
  });

  t("kubeconfigs (stub service, no API server): YAML, k3sbox-<env>-<key> names, 0600 in a 0700 directory; kubectl merges two; gone at stop", async ({ stateDir }) => {
    const stub = (server: string): ServiceDefinition<{ kubeconfig: KubeConfig }> => ({ image, command: "exec sleep 600", helpers: async () => ({ kubeconfig: await stubKubeconfig(server) }), exportKubeconfig: (h) => h.kubeconfig.exportConfig() });
    const a = await startEnvironment({ services: { k8s: stub("https://127.0.0.1:6443") } });
    const b = await startEnvironment({ services: { k8s: stub("https://127.0.0.1:7443") } });
    try {
      const [pa, pb] = [await a.kubeconfigPath("k8s"), await b.kubeconfigPath("k8s")];
      assert.equal(dirname(pa), join(stateDir, a.id), "one private directory per environment");
      assert.equal((await stat(pa)).mode & 0o777, 0o600);
      assert.equal((await stat(dirname(pa))).mode & 0o777, 0o700);
      const text = await readFile(pa, "utf8");
      assert.ok(!text.trimStart().startsWith("{"), "YAML, not one line of JSON");
      const doc = parseYaml(text) as { clusters: { name: string }[]; contexts: { name: string; context: { cluster: string; user: string } }[]; users: { name: string }[]; "current-context": string };
      const name = `k3sbox-${a.id}-k8s`;
      assert.deepEqual([doc.clusters[0].name, doc.users[0].name, doc.contexts[0].name, doc["current-context"]], [name, name, name, name]);
      assert.deepEqual(doc.contexts[0].context, { cluster: name, user: name });
      // kubectl, an independent client, reads both files merged: two contexts, two servers, no collision.
      const merged = await run("kubectl", ["config", "view", "-o", "json"], { env: { KUBECONFIG: `${pa}:${pb}` } });
      assert.equal(merged.code, 0, merged.stderr);
      const view = JSON.parse(merged.stdout);
      assert.deepEqual(view.contexts.map((c: { name: string }) => c.name).sort(), [`k3sbox-${a.id}-k8s`, `k3sbox-${b.id}-k8s`].sort());
      assert.deepEqual(view.clusters.map((c: { cluster: { server: string } }) => c.cluster.server).sort(), ["https://127.0.0.1:6443", "https://127.0.0.1:7443"]);
      const current = await run("kubectl", ["config", "current-context"], { env: { KUBECONFIG: pb } });
      assert.equal(current.stdout.trim(), `k3sbox-${b.id}-k8s`, current.stderr);
    } finally {
      await a.stop();
      await b.stop();
    }
    for (const env of [a, b]) {
      assert.deepEqual(await leftovers(env.id), []);
      await assert.rejects(env.kubeconfigPath("k8s"), /environment [a-f0-9]{10} was stopped; its kubeconfigs are gone/);
    }
    assert.deepEqual(await readdir(stateDir), [], "the private directories go with their environments");
  });
});

