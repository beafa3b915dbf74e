// The WebSocket client (lib/kube/websocket.ts) against a local node:https
// server that answers upgrades (requestCert, a CA of the test's own) — not a
// kube-apiserver: this tier checks TLS, the handshake and framing on the
// wire; the composition tier runs exec and port-forward against the real
// API server and kubelet.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:https";
import type { Duplex } from "node:stream";
import { suite } from "../harness.ts";
import { generateCa, issueLeaf } from "../../lib/pki.ts";
import { connectWebSocket, UpgradeRefusedError } from "../../lib/kube/websocket.ts";
import type { TlsMaterial } from "../../lib/kube/transport.ts";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** Unmasks one client frame at the start of `buf`; undefined until it is complete. */
function readFrame(buf: Uint8Array): { opcode: number; payload: Uint8Array; size: number } | undefined {
  if (buf.length < 2) return undefined;
  let len = buf[1] & 0x7f;
  let o = 2;
  if (len === 126) {
    if (buf.length < 4) return undefined;
    len = (buf[2] << 8) | buf[3];
    o = 4;
  } else if (len === 127) {
    if (buf.length < 10) return undefined;
    len = Number(new DataView(buf.buffer, buf.byteOffset + 2, 8).getBigUint64(0));
    o = 10;
  }
  if (buf.length < o + 4 + len) return undefined;
  const key = buf.subarray(o, o + 4);
  const payload = Uint8Array.from(buf.subarray(o + 4, o + 4 + len));
  for (let i = 0; i < payload.length; i++) payload[i] ^= key[i & 3];
  return { opcode: buf[0] & 0x0f, payload, size: o + 4 + len };
}

function frame(opcode: number, payload: Uint8Array): Uint8Array {
  const len = payload.length;
  const head = len < 126 ? [len] : len < 65536 ? [126, len >> 8, len & 0xff] : [127, 0, 0, 0, 0, (len >>> 24) & 0xff, (len >>> 16) & 0xff, (len >>> 8) & 0xff, len & 0xff];
  return Uint8Array.from([0x80 | opcode, ...head, ...payload]);
}

interface Fixture {
  server: Server;
  upgraded: Set<Duplex>;
  base: string;
  tls: TlsMaterial;
  wrongCa: string;
}

suite("WebSocket client over node:tls (local node:https upgrade server, not a kube-apiserver)", {
  setup: async (): Promise<Fixture> => {
    const ca = await generateCa({ commonName: "ws test CA" });
    const other = await generateCa({ commonName: "unrelated CA" });
    const serving = await issueLeaf(ca, { names: ["127.0.0.1"] });
    const client = await issueLeaf(ca, { names: [], commonName: "system:admin", usages: ["client"] });
    // Upgraded sockets leave the HTTP server's books: teardown ends them itself.
    const upgraded = new Set<Duplex>();
    const server = createServer({ key: serving.keyPem, cert: serving.certPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true });
    server.on("upgrade", (req, sock: Duplex) => {
      upgraded.add(sock);
      sock.on("close", () => upgraded.delete(sock));
      const path = req.url ?? "";
      if (path === "/forbidden") {
        const body = JSON.stringify({ kind: "Status", status: "Failure", reason: "Forbidden", message: "pods \"x\" is forbidden", code: 403 });
        sock.end(`HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
        return;
      }
      if (path === "/silent") return; // never answers
      const accept = createHash("sha1").update(`${req.headers["sec-websocket-key"]}${GUID}`).digest("base64");
      const asked = String(req.headers["sec-websocket-protocol"] ?? "").split(/,\s*/);
      sock.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: ${asked[0]}\r\n\r\n`);
      if (path === "/ping") sock.write(frame(0x9, Uint8Array.of(42)));
      // Echo server: every binary message comes back; a close is answered; a pong is reported as a message.
      let buf = new Uint8Array(0);
      sock.on("data", (chunk: Uint8Array) => {
        const merged = new Uint8Array(buf.length + chunk.length);
        merged.set(buf);
        merged.set(chunk, buf.length);
        buf = merged;
        for (let f = readFrame(buf); f; f = readFrame(buf)) {
          buf = buf.subarray(f.size);
          if (f.opcode === 0x2) sock.write(frame(0x2, f.payload));
          else if (f.opcode === 0xa) sock.write(frame(0x2, new TextEncoder().encode(`pong ${f.payload[0]}`)));
          else if (f.opcode === 0x8) sock.end(frame(0x8, f.payload));
        }
      });
      sock.on("error", () => {});
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const base = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
    return { server, upgraded, base, tls: { ca: ca.certPem, cert: client.certPem, key: client.keyPem }, wrongCa: other.certPem };
  },
  teardown: async ({ server, upgraded }) => {
    for (const sock of upgraded) sock.destroy();
    server.closeAllConnections?.();
    await new Promise<void>((r) => server.close(() => r()));
  },
}, (t) => {
  t("messages of 1 byte to 3 MiB go through intact, and the close handshake ends it with the code sent", async ({ base, tls }) => {
    const ws = await connectWebSocket({ url: `${base}/echo`, protocols: ["v5.channel.k8s.io", "v4.channel.k8s.io"], tls, timeoutMs: 5_000 });
    assert.equal(ws.protocol, "v5.channel.k8s.io");
    const sizes = [1, 125, 126, 65_535, 65_536, 3 << 20];
    const got: Uint8Array[] = [];
    const all = new Promise<void>((resolve) =>
      ws.listen((d) => {
        got.push(Uint8Array.from(d));
        if (got.length === sizes.length) resolve();
      })
    );
    const sent = sizes.map((n, k) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + k) & 0xff));
    for (const m of sent) ws.send(m);
    await all;
    for (let k = 0; k < sizes.length; k++) assert.deepEqual(got[k], sent[k], `message of ${sizes[k]} bytes`);
    ws.close(4001, "done");
    const info = await ws.closed;
    assert.equal(info.code, 4001);
    assert.equal(info.error, undefined);
  });

  t("a server ping is answered with a pong carrying its payload", async ({ base, tls }) => {
    const ws = await connectWebSocket({ url: `${base}/ping`, protocols: ["v4.channel.k8s.io"], tls, timeoutMs: 5_000 });
    const msg = await new Promise<string>((resolve) => ws.listen((d) => resolve(new TextDecoder().decode(d))));
    assert.equal(msg, "pong 42");
    ws.close();
    await ws.closed;
  });

  t("without a client certificate the server refuses the TLS handshake", async ({ base, tls }) => {
    await assert.rejects(
      connectWebSocket({ url: `${base}/echo`, protocols: ["v4.channel.k8s.io"], tls: { ca: tls.ca }, timeoutMs: 5_000 }),
      /certificate ?required|CERTIFICATE_REQUIRED|alert/i,
    );
  });

  t("a server certificate from another CA is refused", async ({ base, tls, wrongCa }) => {
    await assert.rejects(
      connectWebSocket({ url: `${base}/echo`, protocols: ["v4.channel.k8s.io"], tls: { ...tls, ca: wrongCa }, timeoutMs: 5_000 }),
      /self.signed|unknown ?issuer|certificate/i,
    );
  });

  t("a refused upgrade is an UpgradeRefusedError with the status and the Status message", async ({ base, tls }) => {
    const err = await connectWebSocket({ url: `${base}/forbidden`, protocols: ["v4.channel.k8s.io"], tls, timeoutMs: 5_000 }).then(
      () => assert.fail("connected"),
      (e) => e,
    );
    assert.ok(err instanceof UpgradeRefusedError, String(err));
    assert.equal(err.status, 403);
    assert.match(err.message, /403 Forbidden: pods "x" is forbidden/);
  });

  t("a server that never answers the upgrade fails at the deadline, saying so", async ({ base, tls }) => {
    const started = Date.now();
    await assert.rejects(
      connectWebSocket({ url: `${base}/silent`, protocols: ["v4.channel.k8s.io"], tls, timeoutMs: 400 }),
      /no WebSocket upgrade answer within 400 ms/,
    );
    assert.ok(Date.now() - started < 3_000, `gave up after ${Date.now() - started} ms`);
  });
});
