// lib/https-server.ts, the runtime's own HTTPS server (Bun.serve, Deno.serve,
// node:https) behind one interface: a real server on 127.0.0.1 with a leaf
// from an in-memory CA, reached with TLS verified against that CA.

import assert from "node:assert/strict";
import { connect } from "node:net";
import { test } from "../harness.ts";
import { serveHttps } from "../../lib/https-server.ts";
import { nodeRequest } from "../../lib/node-request.ts";
import { generateCa, issueLeaf } from "../../lib/pki.ts";
import { startWebhooks } from "../../lib/kube/webhooks.ts";
import { HostAddressError } from "../../lib/docker/host-address.ts";
import { WebhookOptionError } from "../../lib/kube/webhook-options.ts";

const refused = (port: number) =>
  new Promise<string>((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    s.once("connect", () => (s.destroy(), resolve("open")));
    s.once("error", (e: Error & { code?: string }) => resolve(e.code ?? "error"));
  });

test("https server: answers through the handler with its certificate (verified), echoes a POST body, 413 past the limit, 500 naming a thrown error; close() frees the port", async () => {
  const ca = await generateCa();
  const leaf = await issueLeaf(ca, { names: ["localhost", "127.0.0.1"] });
  const server = await serveHttps({
    hostname: "127.0.0.1",
    port: 0,
    certPem: leaf.chainPem,
    keyPem: leaf.keyPem,
    maxBodyBytes: 1024,
    handler: async (req) => {
      const path = new URL(req.url).pathname;
      if (path === "/boom") throw new Error("kaput");
      return new Response(`${req.method} ${path} ${await req.text()}`, { headers: { "x-served-by": "k3sbox" } });
    },
  });
  try {
    assert.ok(server.port > 0);
    const url = `https://127.0.0.1:${server.port}`;
    const ok = await nodeRequest(`${url}/hello`, { method: "POST", body: "payload" }, { ca: ca.certPem });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get("x-served-by"), "k3sbox");
    assert.equal(await ok.text(), "POST /hello payload");
    const big = await nodeRequest(`${url}/big`, { method: "POST", body: "x".repeat(4096) }, { ca: ca.certPem });
    assert.equal(big.status, 413);
    const boom = await nodeRequest(`${url}/boom`, { method: "GET" }, { ca: ca.certPem });
    assert.equal(boom.status, 500);
    assert.match(await boom.text(), /the handler failed: kaput/);
    // A client that does not trust the CA is refused: verification is on.
    const other = await generateCa();
    await assert.rejects(nodeRequest(`${url}/hello`, { method: "GET" }, { ca: other.certPem }));
  } finally {
    await server.close();
  }
  assert.equal(await refused(server.port), "ECONNREFUSED");
});

/** A context that fails any use beyond what the test allows (fake: there is no cluster in the unit tier). */
function untouchable(hostAddress: () => string) {
  const no = () => {
    throw new Error("touched the cluster");
  };
  return {
    core: new Proxy({}, { get: no }),
    objects: new Proxy({}, { get: no }),
    recorder: new Proxy({}, { get: no }),
    caPem: "",
    issueCertificate: no,
    hostAddress,
    live: new Set(),
    // deno-lint-ignore no-explicit-any
  } as any;
}

test("webhooks() (fake context, no cluster): a bad option fails before anything; no host address fails with the HostAddressError, before serving", async () => {
  await assert.rejects(startWebhooks(untouchable(() => "127.0.0.1"), { validating: [{ name: "x", rules: [], handler: () => ({ allowed: true }) }] }), WebhookOptionError);
  const err = new HostAddressError("env.hostAddress: no address … the Docker daemon is remote (tcp: tcp://10.0.0.2:2375)");
  await assert.rejects(
    startWebhooks(untouchable(() => {
      throw err;
    }), { conversion: [{ crd: "ws.ex.test", convert: (o) => o }] }),
    (e) => e === err,
  );
});
