// The Kubernetes client's mTLS transport against a real local HTTPS server
// (node:https with requestCert) — not a kube-apiserver: this tier checks TLS
// and recording; the control-plane tier runs the same client against the
// real API server.

import assert from "node:assert/strict";
import { createServer, type Server } from "node:https";
import type { TLSSocket } from "node:tls";
import { suite } from "../harness.ts";
import { stringifyYaml } from "../../deps.ts";
import { readTag } from "../../lib/provenance.ts";
import { createKubeHelpers, loadKubeconfig } from "../../lib/kube/client.ts";
import { KubeApiError } from "../../lib/kube/errors.ts";
import { KubeTransportError } from "../../lib/kube/http-library.ts";
import { type CertificateAuthority, generateCa, issueLeaf } from "../../lib/pki.ts";
import { Recorder } from "../../lib/recorder.ts";

const b64 = (s: string) => Buffer.from(s).toString("base64");

function kubeconfigYaml(server: string, caPem: string, cert: { certPem: string; keyPem: string }, extra: Record<string, unknown> = {}): string {
  return stringifyYaml({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "default", cluster: { server, "certificate-authority-data": b64(caPem), ...extra } }],
    users: [{ name: "default", user: { "client-certificate-data": b64(cert.certPem), "client-key-data": b64(cert.keyPem) } }],
    contexts: [{ name: "default", context: { cluster: "default", user: "default" } }],
    "current-context": "default",
  });
}

interface Fixture {
  server: Server;
  url: string;
  ca: CertificateAuthority;
  otherCa: CertificateAuthority;
  client: { certPem: string; keyPem: string };
  seenClients: string[];
  /** TLS handshakes the server completed. */
  handshakes: { count: number };
}

const json = (res: import("node:http").ServerResponse, status: number, body: unknown) =>
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));

suite("kube transport over mTLS (local node:https server, not a kube-apiserver)", {
  setup: async (): Promise<Fixture> => {
    const ca = await generateCa({ commonName: "test cluster CA" });
    const otherCa = await generateCa({ commonName: "unrelated CA" });
    const serving = await issueLeaf(ca, { names: ["127.0.0.1", "localhost"] });
    const client = await issueLeaf(ca, { names: [], commonName: "system:admin", usages: ["client"] });
    const seenClients: string[] = [];
    const server = createServer({ key: serving.keyPem, cert: serving.certPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true }, (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate?.();
      seenClients.push(String(peer?.subject?.CN ?? "(certificate presented)"));
      const path = req.url ?? "";
      if (path === "/api/v1/nodes") return json(res, 200, { kind: "NodeList", apiVersion: "v1", metadata: {}, items: [{ metadata: { name: "n1", labels: { role: "test" } }, status: { phase: "Running" } }] });
      if (path === "/api/v1/nodes/missing") return json(res, 404, { kind: "Status", apiVersion: "v1", status: "Failure", reason: "NotFound", message: 'nodes "missing" not found', code: 404 });
      if (path === "/api/v1") return json(res, 200, { kind: "APIResourceList", groupVersion: "v1", resources: [{ name: "configmaps", namespaced: true, kind: "ConfigMap", verbs: ["create"] }] });
      if (path.startsWith("/api/v1/namespaces/default/configmaps") && req.method === "POST") {
        let body = "";
        req.on("data", (c) => (body += c));
        req.on("end", () => {
          const obj = JSON.parse(body);
          if (obj.metadata.name === "taken") return json(res, 409, { kind: "Status", reason: "AlreadyExists", message: 'configmaps "taken" already exists', code: 409 });
          json(res, 201, { ...obj, metadata: { ...obj.metadata, uid: "uid-1" } });
        });
        return;
      }
      json(res, 500, { message: `unexpected ${req.method} ${path}` });
    });
    const handshakes = { count: 0 };
    server.on("secureConnection", () => handshakes.count++);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
    return { server, url, ca, otherCa, client: { certPem: client.certPem, keyPem: client.keyPem }, seenClients, handshakes };
  },
  teardown: async (f) => {
    f.server.closeAllConnections?.();
    await new Promise((r) => f.server.close(r));
  },
}, (t) => {
  t("presents the client certificate, verifies the server, and records a kube event", async (f) => {
    const recorder = new Recorder();
    const h = await createKubeHelpers(await loadKubeconfig(kubeconfigYaml(f.url, f.ca.certPem, f.client)), { recorder });
    try {
      const nodes = await h.client.core.listNode();
      assert.equal(nodes.items[0].metadata?.name, "n1");
      assert.equal(nodes.items[0].status?.phase, "Running");
      const [ev] = recorder.events();
      assert.equal(readTag(nodes)?.sourceSeq, ev.seq);
      assert.equal(readTag(nodes.items[0].metadata)?.sourceSeq, ev.seq);
      assert.match(recorder.timeline(), /^list nodes 200 \d+ms$/);
      assert.ok(f.seenClients.length > 0);
    } finally {
      h.close();
    }
  });

  t("discovery is retracted from the timeline; create is recorded and its result tagged", async (f) => {
    const recorder = new Recorder();
    const h = await createKubeHelpers(await loadKubeconfig(kubeconfigYaml(f.url, f.ca.certPem, f.client)), { recorder });
    try {
      const [cm] = await h.create("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hello\n  namespace: default\ndata: {a: b}\n");
      assert.equal(cm.metadata?.uid, "uid-1");
      const events = recorder.events();
      assert.deepEqual(events.map((e) => e.kube?.verb), ["create"]);
      assert.equal(readTag(cm)?.sourceSeq, events[0].seq);
      assert.match(recorder.timeline(), /^create configmaps · default\/hello 201 \d+ms$/);
    } finally {
      h.close();
    }
  });

  t("API errors read like the timeline: 404 and 409 with reason and message", async (f) => {
    const h = await createKubeHelpers(await loadKubeconfig(kubeconfigYaml(f.url, f.ca.certPem, f.client)));
    try {
      await assert.rejects(h.client.core.readNode({ name: "missing" }), (err: unknown) => {
        assert.ok(err instanceof KubeApiError);
        assert.equal(err.code, 404);
        assert.equal(err.reason, "NotFound");
        assert.equal(err.message, 'get nodes · missing: 404 NotFound: nodes "missing" not found');
        return true;
      });
      await assert.rejects(
        h.create("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: taken}\n"),
        /create: document 2 \(ConfigMap taken\): create configmaps · default\/taken: 409 AlreadyExists: configmaps "taken" already exists/,
      );
    } finally {
      h.close();
    }
  });

  t("a wrapped value from one call can be passed straight into the next", async (f) => {
    const h = await createKubeHelpers(await loadKubeconfig(kubeconfigYaml(f.url, f.ca.certPem, f.client)));
    try {
      const nodes = await h.client.core.listNode();
      // labels is a wrapped object; it must reach the request body as plain JSON.
      const [cm] = await h.create(`apiVersion: v1\nkind: ConfigMap\nmetadata: {name: copy, namespace: default}\n`);
      const created = await h.client.core.createNamespacedConfigMap({
        namespace: "default",
        body: { metadata: { name: "from-wrapped", labels: nodes.items[0].metadata!.labels }, data: { uid: cm.metadata!.uid! } },
      });
      assert.deepEqual(created.metadata?.labels?.unwrap(), { role: "test" });
    } finally {
      h.close();
    }
  });

  t("refuses a server whose certificate is not signed by the kubeconfig's CA", async (f) => {
    const h = await createKubeHelpers(await loadKubeconfig(kubeconfigYaml(f.url, f.otherCa.certPem, f.client)));
    try {
      await assert.rejects(h.client.core.listNode(), (err: unknown) => {
        assert.ok(err instanceof KubeTransportError, String(err));
        assert.match((err as Error).message, /^GET https:\/\/127\.0\.0\.1:\d+\/api\/v1\/nodes: /);
        assert.match((err as Error).message, /certificate|self.signed|verify|issuer|UnknownIssuer|unable to get/i);
        return true;
      });
    } finally {
      h.close();
    }
  });

  t("the server refuses a client certificate from another CA", async (f) => {
    const stranger = await issueLeaf(f.otherCa, { names: [], commonName: "intruder", usages: ["client"] });
    const h = await createKubeHelpers(await loadKubeconfig(kubeconfigYaml(f.url, f.ca.certPem, stranger)));
    const before = f.seenClients.length;
    try {
      await assert.rejects(h.client.core.listNode(), KubeTransportError);
      assert.equal(f.seenClients.length, before, "no request may reach the handler");
    } finally {
      h.close();
    }
  });

  t("requests reuse one verified connection: sequential calls cost one mTLS handshake, not one each", async (f) => {
    const h = await createKubeHelpers(await loadKubeconfig(kubeconfigYaml(f.url, f.ca.certPem, f.client)));
    try {
      await h.client.core.listNode();
      const before = f.handshakes.count;
      for (let i = 0; i < 5; i++) assert.equal((await h.client.core.listNode()).items.length, 1);
      assert.equal(f.handshakes.count - before, 0, "the five calls after the first rode its connection");
    } finally {
      h.close();
    }
  });

  t("a server reached at an IP its certificate does not name is refused (the check is kept with pooling)", async (f) => {
    const namesOnly = await issueLeaf(f.ca, { names: ["localhost"] });
    const other = createServer({ key: namesOnly.keyPem, cert: namesOnly.certPem }, (_req, res) => json(res, 200, { kind: "NodeList", items: [] }));
    await new Promise<void>((r) => other.listen(0, "127.0.0.1", r));
    const h = await createKubeHelpers(await loadKubeconfig(kubeconfigYaml(`https://127.0.0.1:${(other.address() as { port: number }).port}`, f.ca.certPem, f.client)));
    try {
      await assert.rejects(h.client.core.listNode(), (err: unknown) => {
        assert.ok(err instanceof KubeTransportError, String(err));
        assert.match((err as Error).message, /127\.0\.0\.1|IP|altnames|SAN|name/i);
        return true;
      });
    } finally {
      h.close();
      other.closeAllConnections?.();
      await new Promise((r) => other.close(r));
    }
  });

  t("a kubeconfig asking to skip TLS verification is refused, not obeyed", async (f) => {
    const kc = await loadKubeconfig(kubeconfigYaml(f.url, f.ca.certPem, f.client, { "insecure-skip-tls-verify": true }));
    await assert.rejects(createKubeHelpers(kc), /insecure-skip-tls-verify; k3sbox always verifies the API server/);
  });
});
