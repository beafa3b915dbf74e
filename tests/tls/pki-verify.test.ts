// Independent checks of lib/pki.ts output: openssl must accept the chains
// and print the SANs, and real TLS handshakes (node:https / node:tls, which
// Bun and Deno both implement) must succeed or fail exactly as a client
// trusting only our CA would expect.
//
// Temp files live in a private (0700) directory, are written 0600 and are
// removed afterwards; every server is closed.

import assert from "node:assert/strict";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { caFromEnv, type CertificateAuthority, generateCa, issueLeaf, type IssuedLeaf } from "../../lib/pki.ts";
import { run } from "../../lib/exec.ts";
import { runtime } from "../../lib/runtime.ts";
import { skip, suite } from "../harness.ts";

const haveOpenssl = await run("openssl", ["version"], { timeoutMs: 10_000 }).then((r) => r.code === 0, () => false);

interface Fixture {
  dir: string;
  ecCa: CertificateAuthority;
  rsaCa: CertificateAuthority;
  otherCa: CertificateAuthority;
  /** *.example.test + 127.0.0.1, ECDSA, from ecCa. */
  wildcard: IssuedLeaf;
}

/** Writes `text` to `dir/name` with mode 0600 and returns the path. */
async function put(dir: string, name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text, { mode: 0o600 });
  await chmod(path, 0o600); // in case the file already existed
  return path;
}

async function openssl(args: string[]): Promise<{ code: number; out: string }> {
  const r = await run("openssl", args, { timeoutMs: 30_000 });
  return { code: r.code, out: r.stdout + r.stderr };
}

/** `openssl verify` of `leaf` against `ca` only (x509_strict, with the given purpose). */
async function verify(f: Fixture, name: string, caPem: string, leafPem: string, purpose = "sslserver") {
  const caPath = await put(f.dir, `${name}.ca.pem`, caPem);
  const leafPath = await put(f.dir, `${name}.leaf.pem`, leafPem);
  return await openssl(["verify", "-x509_strict", "-purpose", purpose, "-CAfile", caPath, leafPath]);
}

/** Runs `body` against an https server presenting `leaf`; always closes the server. */
async function withServer<T>(
  leaf: IssuedLeaf,
  extra: https.ServerOptions,
  body: (port: number) => Promise<T>,
): Promise<T> {
  const server = https.createServer({ key: leaf.keyPem, cert: leaf.chainPem, ...extra }, (_req, res) => {
    res.end("ok");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  try {
    return await body((server.address() as AddressInfo).port);
  } finally {
    server.closeAllConnections?.();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

type Outcome = { ok: true; status: number; body: string } | { ok: false; code: string; message: string };

/** One HTTPS GET trusting only `caPem`, with SNI/hostname `servername`. */
function get(
  port: number,
  opts: { servername?: string; caPem: string; cert?: string; key?: string },
): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = https.get({
      host: "127.0.0.1",
      port,
      path: "/",
      servername: opts.servername,
      ca: opts.caPem,
      cert: opts.cert,
      key: opts.key,
      agent: false,
      timeout: 10_000,
    }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ ok: true, status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error("request timed out")));
    req.on("error", (e: NodeJS.ErrnoException) => resolve({ ok: false, code: String(e.code), message: e.message }));
  });
}

/** A bare TLS handshake; resolves with whether the peer was authorized. */
function handshake(port: number, opts: { servername?: string; caPem: string }): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: "127.0.0.1", port, servername: opts.servername, ca: opts.caPem }, () => {
      const authorized = socket.authorized;
      socket.destroy();
      resolve(authorized ? { ok: true, status: 0, body: "" } : { ok: false, code: "NOT_AUTHORIZED", message: "" });
    });
    socket.setTimeout(10_000, () => socket.destroy(new Error("handshake timed out")));
    socket.on("error", (e: NodeJS.ErrnoException) => resolve({ ok: false, code: String(e.code), message: e.message }));
  });
}

// What each runtime reports for "this chain does not lead to a CA I trust":
// Node and Deno say UNABLE_TO_VERIFY_LEAF_SIGNATURE, Bun (BoringSSL) sees the
// server-sent root and says SELF_SIGNED_CERT_IN_CHAIN.
const UNTRUSTED_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_GET_ISSUER_CERT",
  "CERT_SIGNATURE_FAILURE",
]);

function assertUntrusted(o: Outcome): void {
  assert.equal(o.ok, false, "connection must fail");
  if (o.ok) return;
  assert.ok(UNTRUSTED_CODES.has(o.code), `expected a certificate-verification error, got ${o.code}: ${o.message}`);
}

function assertWrongName(o: Outcome, host: string): void {
  assert.equal(o.ok, false, `connection to ${host} must fail`);
  if (o.ok) return;
  assert.equal(o.code, "ERR_TLS_CERT_ALTNAME_INVALID", `${host}: ${o.message}`);
}

suite<Fixture>("pki: independent verification", {
  setup: async () => {
    const dir = await mkdtemp(join(tmpdir(), "k3sbox-pki-verify-")); // mode 0700
    const [ecCa, rsaCa, otherCa] = await Promise.all([
      generateCa({ commonName: "k3sbox verify EC CA" }),
      generateCa({ commonName: "k3sbox verify RSA CA", algorithm: "rsa-2048" }),
      generateCa({ commonName: "k3sbox unrelated CA" }),
    ]);
    const wildcard = await issueLeaf(ecCa, { names: ["*.example.test", "127.0.0.1"] });
    return { dir, ecCa, rsaCa, otherCa, wildcard };
  },
  teardown: async (f) => {
    await rm(f.dir, { recursive: true, force: true });
  },
}, (t) => {
  // ---- openssl ------------------------------------------------------------
  if (!haveOpenssl) {
    skip("pki: openssl verification", "openssl is not on PATH");
  } else {
    t("openssl verify: ECDSA leaf from the ECDSA CA", async (f) => {
      const r = await verify(f, "ec-ec", f.ecCa.certPem, f.wildcard.certPem);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /: OK/);
    });

    t("openssl verify: RSA leaves from the ECDSA and RSA CAs", async (f) => {
      for (const [name, ca] of [["ec-rsa", f.ecCa], ["rsa-rsa", f.rsaCa]] as const) {
        const leaf = await issueLeaf(ca, { names: ["rsa.example.test", "::1"], algorithm: "rsa-2048" });
        const r = await verify(f, name, ca.certPem, leaf.certPem);
        assert.equal(r.code, 0, `${name}: ${r.out}`);
      }
    });

    t("openssl verify: purposes follow the usages", async (f) => {
      const client = await issueLeaf(f.ecCa, { names: [], usages: ["client"], commonName: "tester" });
      assert.equal((await verify(f, "client", f.ecCa.certPem, client.certPem, "sslclient")).code, 0);
      const asServer = await verify(f, "client-as-server", f.ecCa.certPem, client.certPem, "sslserver");
      assert.notEqual(asServer.code, 0, "a client-only leaf is no server certificate");
      assert.match(asServer.out, /(unsuitable|unsupported) certificate purpose/);
      const both = await issueLeaf(f.ecCa, { names: ["both.example.test"], usages: ["server", "client"] });
      assert.equal((await verify(f, "both-client", f.ecCa.certPem, both.certPem, "sslclient")).code, 0);
      assert.equal((await verify(f, "both-server", f.ecCa.certPem, both.certPem, "sslserver")).code, 0);
    });

    t("openssl verify: a different CA does not vouch for the leaf", async (f) => {
      const r = await verify(f, "other", f.otherCa.certPem, f.wildcard.certPem);
      assert.notEqual(r.code, 0);
      assert.match(r.out, /unable to get local issuer certificate/);
    });

    t("openssl x509 -text shows the SANs and extensions", async (f) => {
      const leaf = await issueLeaf(f.ecCa, { names: ["*.example.test", "example.test", "10.43.0.1", "fd00::1"] });
      const path = await put(f.dir, "text.pem", leaf.certPem);
      const r = await openssl(["x509", "-in", path, "-noout", "-text"]);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /DNS:\*\.example\.test, DNS:example\.test, IP Address:10\.43\.0\.1, IP Address:FD00:0:0:0:0:0:0:1/);
      assert.match(r.out, /Basic Constraints: critical\s+CA:FALSE/);
      assert.match(r.out, /Key Usage: critical\s+Digital Signature\n/);
      assert.match(r.out, /Extended Key Usage:\s+TLS Web Server Authentication\n/);
      assert.match(r.out, /Authority Key Identifier:/);
      assert.match(r.out, /Issuer: CN = k3sbox verify EC CA/);
      assert.match(r.out, /Subject: CN = \*\.example\.test/);
      // And the CA.
      const caPath = await put(f.dir, "text-ca.pem", f.ecCa.certPem);
      const c = await openssl(["x509", "-in", caPath, "-noout", "-text"]);
      assert.match(c.out, /Basic Constraints: critical\s+CA:TRUE/);
      assert.match(c.out, /Key Usage: critical\s+Certificate Sign, CRL Sign/);
      assert.match(c.out, /Subject Key Identifier:/);
    });

    t("openssl-written CAs (SEC1 and PKCS#1 keys) load from files and sign verifiable leaves", async (f) => {
      const forms = [
        {
          name: "sec1",
          keygen: ["ecparam", "-name", "prime256v1", "-genkey", "-out"],
          header: "-----BEGIN EC PARAMETERS-----",
          algorithm: "ecdsa-p256",
        },
        {
          name: "pkcs1",
          keygen: ["genrsa", "-traditional", "-out"],
          header: "-----BEGIN RSA PRIVATE KEY-----",
          algorithm: "rsa-2048",
        },
      ];
      for (const form of forms) {
        const keyPath = join(f.dir, `openssl-${form.name}.key`);
        const certPath = join(f.dir, `openssl-${form.name}.crt`);
        const gen = await openssl([...form.keygen, keyPath, ...(form.name === "pkcs1" ? ["2048"] : [])]);
        assert.equal(gen.code, 0, gen.out);
        const req = await openssl([
          "req", "-x509", "-new", "-key", keyPath, "-subj", `/O=k3sbox/CN=openssl ${form.name} CA`,
          "-days", "30", "-sha256", "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", certPath,
        ]);
        assert.equal(req.code, 0, req.out);
        await chmod(keyPath, 0o600);
        await chmod(certPath, 0o600);
        assert.ok((await readFile(keyPath, "utf8")).startsWith(form.header), `${form.name}: openssl wrote ${form.header}`);

        const ca = await caFromEnv({ K3SBOX_CA_CERT: certPath, K3SBOX_CA_KEY: keyPath });
        assert.ok(ca, "caFromEnv loaded the CA");
        assert.equal(ca.algorithm, form.algorithm);
        for (const algorithm of ["ecdsa-p256", "rsa-2048"] as const) {
          const leaf = await issueLeaf(ca, { names: ["*.example.test"], algorithm });
          const leafPath = await put(f.dir, `openssl-${form.name}-${algorithm}.pem`, leaf.certPem);
          // Verify against openssl's own file, not our re-encoding of it.
          const r = await openssl(["verify", "-x509_strict", "-purpose", "sslserver", "-CAfile", certPath, leafPath]);
          assert.equal(r.code, 0, `${form.name}/${algorithm}: ${r.out}`);
        }
      }
    }, { timeoutMs: 60_000 });
  }

  // ---- TLS handshakes -----------------------------------------------------
  t("TLS: client trusting only the CA reaches foo.example.test on a *.example.test leaf", async (f) => {
    await withServer(f.wildcard, {}, async (port) => {
      const r = await get(port, { servername: "foo.example.test", caPem: f.ecCa.certPem });
      assert.deepEqual(r, { ok: true, status: 200, body: "ok" });
      const h = await handshake(port, { servername: "bar.example.test", caPem: f.ecCa.certPem });
      assert.equal(h.ok, true, JSON.stringify(h));
    });
  });

  t("TLS: a client trusting a different CA fails with a certificate error", async (f) => {
    await withServer(f.wildcard, {}, async (port) => {
      assertUntrusted(await get(port, { servername: "foo.example.test", caPem: f.otherCa.certPem }));
      assertUntrusted(await handshake(port, { servername: "foo.example.test", caPem: f.otherCa.certPem }));
    });
  });

  t("TLS: a wrong hostname fails", async (f) => {
    await withServer(f.wildcard, {}, async (port) => {
      for (const host of ["foo.other.test", "example.test", "a.b.example.test"]) {
        assertWrongName(await get(port, { servername: host, caPem: f.ecCa.certPem }), host);
      }
      assertWrongName(await handshake(port, { servername: "foo.other.test", caPem: f.ecCa.certPem }), "foo.other.test");
    });
  });

  t("TLS: RSA leaf from the RSA CA, reached by IP address", async (f) => {
    const leaf = await issueLeaf(f.rsaCa, { names: ["127.0.0.1", "rsa.example.test"], algorithm: "rsa-2048" });
    await withServer(leaf, {}, async (port) => {
      // No servername: the client checks the IP SAN against 127.0.0.1.
      assert.deepEqual(await get(port, { caPem: f.rsaCa.certPem }), { ok: true, status: 200, body: "ok" });
      assert.deepEqual(
        await get(port, { servername: "rsa.example.test", caPem: f.rsaCa.certPem }),
        { ok: true, status: 200, body: "ok" },
      );
      assertUntrusted(await get(port, { caPem: f.ecCa.certPem }));
    });
  });

  t("TLS: mutual TLS accepts a client leaf and refuses server-only or missing client certs", async (f) => {
    const client = await issueLeaf(f.ecCa, { names: [], usages: ["client"], commonName: "tester" });
    const serverOnly = await issueLeaf(f.ecCa, { names: ["x.example.test"] });
    const mtls = { ca: f.ecCa.certPem, requestCert: true, rejectUnauthorized: true };
    await withServer(f.wildcard, mtls, async (port) => {
      const base = { servername: "foo.example.test", caPem: f.ecCa.certPem };
      assert.deepEqual(
        await get(port, { ...base, cert: client.chainPem, key: client.keyPem }),
        { ok: true, status: 200, body: "ok" },
      );
      const wrongUsage = await get(port, { ...base, cert: serverOnly.chainPem, key: serverOnly.keyPem });
      assert.equal(wrongUsage.ok, false, `server-only leaf as client cert must be refused (${runtime})`);
      const none = await get(port, base);
      assert.equal(none.ok, false, "no client cert must be refused");
    });
  });
});
