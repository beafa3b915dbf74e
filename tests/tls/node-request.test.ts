// nodeRequest (env.fetch's transport): connects to a published port on
// 127.0.0.1 while sending the real host name as SNI and Host, and verifies
// the certificate against that name — also when a pooled connection to the
// same port for another name exists, and for IP-address names.

import assert from "node:assert/strict";
import { createServer, type Server } from "node:https";
import { suite } from "../harness.ts";
import { generateCa, issueLeaf } from "../../lib/pki.ts";
import { nodeRequest } from "../../lib/node-request.ts";

interface Fixture {
  server: Server;
  port: number;
  ca: string;
  /** Resolves when the held-open /stream response's connection closes. */
  streamClosed: () => Promise<void>;
}

const BIG = 5 * 1024 * 1024;

suite("nodeRequest: SNI, Host and certificate name checks against a local HTTPS server", {
  setup: async (): Promise<Fixture> => {
    const ca = await generateCa();
    const leaf = await issueLeaf(ca, { names: ["a.example.test", "10.1.2.3"] });
    let closed = Promise.resolve();
    const server = createServer({ key: leaf.keyPem, cert: leaf.certPem }, (req, res) => {
      if (req.url === "/stream") {
        // One line now, then nothing until the client goes away (as a watch does).
        closed = new Promise((r) => res.on("close", () => r()));
        res.writeHead(200, { "content-type": "application/json" });
        res.write('{"type":"ADDED"}\n');
        return;
      }
      if (req.url === "/big") return void res.end(Buffer.alloc(BIG, 7));
      res.end(`host=${req.headers.host} sni=${(req.socket as unknown as { servername?: string | false }).servername || ""}`);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    return { server, port: (server.address() as { port: number }).port, ca: ca.certPem, streamClosed: () => closed };
  },
  teardown: async (f) => {
    f.server.closeAllConnections?.();
    await new Promise((r) => f.server.close(r));
  },
}, (t) => {
  const get = (f: Fixture, url: string) => nodeRequest(url, {}, { ca: f.ca }, { host: "127.0.0.1", port: f.port });

  t("the right name: SNI and Host carry it, the certificate verifies, repeated requests succeed", async (f) => {
    for (let i = 0; i < 3; i++) {
      const res = await get(f, "https://a.example.test/");
      assert.equal(res.status, 200);
      assert.equal(await res.text(), "host=a.example.test sni=a.example.test");
    }
  });

  t("a name the certificate does not cover is refused, even right after a good request to the same port", async (f) => {
    assert.equal((await get(f, "https://a.example.test/")).status, 200);
    await assert.rejects(get(f, "https://b.example.test/"), /b\.example\.test|altnames|certificate|hostname/i);
  });

  t("an IP-address name is checked against the certificate's IP entries (no SNI for IPs)", async (f) => {
    const res = await get(f, "https://10.1.2.3/");
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "host=10.1.2.3 sni=");
    await assert.rejects(get(f, "https://10.9.9.9/"), /10\.9\.9\.9|IP|altnames|certificate/i);
  });

  t("a CA that did not sign the certificate is refused", async (f) => {
    const other = await generateCa({ commonName: "other" });
    await assert.rejects(nodeRequest("https://a.example.test/", {}, { ca: other.certPem }, { host: "127.0.0.1", port: f.port }));
  });

  t("the body streams: the first line of a held-open response is read before it ends, and cancelling closes the connection", async (f) => {
    const res = await get(f, "https://a.example.test/stream");
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    const first = await reader.read();
    assert.equal(new TextDecoder().decode(first.value), '{"type":"ADDED"}\n');
    await reader.cancel();
    await f.streamClosed(); // the server saw the client go (the test's deadline bounds this)
  });

  t("a large body arrives whole through the stream (backpressure keeps every byte)", async (f) => {
    const body = new Uint8Array(await (await get(f, "https://a.example.test/big")).arrayBuffer());
    assert.equal(body.length, BIG);
    assert.ok(body.every((b) => b === 7));
  });
});
