// The k3s host-side readiness probe against real local HTTPS servers that
// require client certificates, each in its own process (not k3s: this checks
// the probe's TLS and its handling of a host port reused by a later environment).

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { test } from "../harness.ts";
import { stringifyYaml } from "../../deps.ts";
import { apiServerReadyProbe, kubeconfigReader } from "../../lib/k3s/ready-probe.ts";
import { generateCa, issueLeaf } from "../../lib/pki.ts";
import { scriptArgv } from "../support/script.ts";
import type { HelperContext } from "../../lib/service.ts";

const b64 = (s: string) => Buffer.from(s).toString("base64");

/**
 * An API-server stand-in with its own CA, in its own process like a real API
 * server (so no TLS session state is shared between two of them); /readyz
 * answers `status`.
 */
async function apiServer(status: number, port = 0) {
  const ca = await generateCa();
  const serving = await issueLeaf(ca, { names: ["127.0.0.1"] });
  const client = await issueLeaf(ca, { names: [], commonName: "admin", usages: ["client"] });
  const script = new URL("../support/https-server.ts", import.meta.url).pathname;
  const [cmd, ...args] = scriptArgv(script);
  const child = spawn(cmd, args, {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, HTTPS_SERVER: JSON.stringify({ key: serving.keyPem, cert: serving.certPem, ca: ca.certPem, status, port }) },
  });
  const exited = new Promise((r) => child.on("exit", r));
  const actual = await new Promise<number>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (c) => {
      out += c;
      const m = /LISTENING (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    exited.then(() => reject(new Error("the test HTTPS server exited before listening")));
  });
  const kubeconfig = stringifyYaml({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "default", cluster: { server: `https://127.0.0.1:${actual}`, "certificate-authority-data": b64(ca.certPem) } }],
    users: [{ name: "default", user: { "client-certificate-data": b64(client.certPem), "client-key-data": b64(client.keyPem) } }],
    contexts: [{ name: "default", context: { cluster: "default", user: "default" } }],
    "current-context": "default",
  });
  const close = async () => {
    child.kill("SIGKILL");
    await exited;
  };
  return { port: actual, kubeconfig, close };
}

function context(port: number, kubeconfig: () => string | undefined, container = "c1", reads = { count: 0 }): HelperContext {
  return {
    container,
    hostPort: () => port,
    host: "127.0.0.1",
    exec: () => {
      reads.count++;
      const text = kubeconfig();
      return Promise.resolve(text ? { code: 0, stdout: text, stderr: "" } : { code: 1, stdout: "", stderr: "No such file" });
    },
  } as unknown as HelperContext;
}

test("ready probe: cannot tell before the kubeconfig exists, false while /readyz fails, true at 200", async () => {
  const a = await apiServer(503);
  const probe = apiServerReadyProbe(kubeconfigReader("/etc/rancher/k3s/k3s.yaml"), 6443);
  let written: string | undefined;
  try {
    assert.equal(await probe(context(a.port, () => written)), undefined);
    written = a.kubeconfig;
    assert.equal(await probe(context(a.port, () => written)), false);
  } finally {
    await a.close();
  }
  const b = await apiServer(200);
  try {
    assert.equal(await probe(context(b.port, () => b.kubeconfig, "c2")), true, "another container: its own kubeconfig");
  } finally {
    await b.close();
  }
});

test("ready probe: certificates that no longer verify the server (another CA on the port) are read afresh, not stuck", async () => {
  const first = await apiServer(503);
  const probe = apiServerReadyProbe(kubeconfigReader("/etc/rancher/k3s/k3s.yaml"), 6443);
  let current = first.kubeconfig;
  assert.equal(await probe(context(first.port, () => current)), false); // caches first's certificates
  await first.close();
  const second = await apiServer(200, first.port);
  current = second.kubeconfig;
  try {
    assert.equal(await probe(context(second.port, () => current)), undefined, "old certificates do not verify the new server");
    assert.equal(await probe(context(second.port, () => current)), true, "the kubeconfig is read afresh");
  } finally {
    await second.close();
  }
});

test("kubeconfig reader: the probe and the helpers share one read per container; an incomplete file is not kept", async () => {
  const server = await apiServer(200);
  const reader = kubeconfigReader("/etc/rancher/k3s/k3s.yaml");
  const probe = apiServerReadyProbe(reader, 6443);
  const reads = { count: 0 };
  let text = "apiVersion: v1\nkind: Config\n"; // k3s still writing it: no client key yet
  const ctx = context(server.port, () => text, "c1", reads);
  try {
    assert.deepEqual(await reader.get(ctx), { error: "the file has no client key yet" });
    text = server.kubeconfig;
    assert.equal(await probe(ctx), true);
    assert.equal((await reader.get(ctx)).text, server.kubeconfig, "the helpers get the probe's read");
    assert.equal(reads.count, 2, "one failed read, then one complete read shared by probe and helpers");
    reader.forget(ctx);
    await reader.get(ctx);
    assert.equal(reads.count, 3, "forget drops it");
  } finally {
    await server.close();
  }
});
