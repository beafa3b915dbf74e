// lib/pki.ts: certificate fields, key-format loading and
// errors. Pure and fast: no openssl process (the openssl-written keys are
// committed fixtures, see tests/fixtures/pki/README.md) and no network.

import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadX509, type X509 } from "../../deps.ts";
import { createPrivateKey } from "node:crypto";
import { caFromEnv, type CertificateAuthority, generateCa, issueLeaf, loadCa } from "../../lib/pki.ts";
import { test } from "../harness.ts";
import { toHex } from "../../lib/bytes.ts";

const x509 = await loadX509();

const webcrypto = globalThis.crypto;
const DAY_MS = 86_400_000;
const fixture = (name: string) =>
  readFileSync(fileURLToPath(new URL(`../fixtures/pki/${name}`, import.meta.url)), "utf8");

// ---------------------------------------------------------------------------
// helpers

function parse(pem: string): X509.X509Certificate {
  return new x509.X509Certificate(pem);
}

function ext<T extends X509.Extension>(cert: X509.X509Certificate, type: new (raw: BufferSource) => T): T {
  const e = cert.getExtension(type);
  assert.ok(e, `certificate has no ${type.name}`);
  return e;
}

/** The DER bytes of a certificate's issuer or subject Name (what Go compares), as @peculiar/x509 reads and writes them. */
function rawName(cert: X509.X509Certificate, which: "issuer" | "subject"): string {
  const name = which === "issuer" ? cert.issuerName : cert.subjectName;
  return toHex(name.toArrayBuffer());
}

function sans(cert: X509.X509Certificate): { type: string; value: string }[] {
  return ext(cert, x509.SubjectAlternativeNameExtension).names.items.map((n) => ({ type: n.type, value: n.value }));
}

async function signedBy(leaf: X509.X509Certificate, ca: X509.X509Certificate): Promise<boolean> {
  return await leaf.verify({ publicKey: ca.publicKey, signatureOnly: true }, webcrypto);
}

/** True when the PKCS#8 PEM key's public half is the certificate's public key. */
async function keyMatchesCert(keyPem: string, cert: X509.X509Certificate): Promise<boolean> {
  const der = x509.PemConverter.decodeFirst(keyPem);
  const object = createPrivateKey({ key: keyPem, format: "pem" });
  const kind = object.asymmetricKeyType === "rsa" ? { kind: "rsa" } : { kind: "ec", curve: { prime256v1: "P-256", secp384r1: "P-384" }[object.asymmetricKeyDetails?.namedCurve as string] };
  const alg = kind.kind === "rsa"
    ? { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }
    : { name: "ECDSA", namedCurve: kind.curve! };
  const key = await webcrypto.subtle.importKey("pkcs8", der, alg, true, ["sign"]);
  const pub = await webcrypto.subtle.importKey("spki", cert.publicKey.rawData, alg, true, ["verify"]);
  const [a, b] = await Promise.all([webcrypto.subtle.exportKey("jwk", key), webcrypto.subtle.exportKey("jwk", pub)]);
  return kind.kind === "rsa" ? a.n === b.n : a.x === b.x && a.y === b.y;
}

function serialBytes(cert: X509.X509Certificate): number {
  return cert.serialNumber.length / 2;
}

async function rejects(fn: () => Promise<unknown>, includes: string | RegExp): Promise<void> {
  await assert.rejects(fn, (err: Error) => {
    const ok = typeof includes === "string" ? err.message.includes(includes) : includes.test(err.message);
    assert.ok(ok, `expected error matching ${includes}, got: ${err.message}`);
    return true;
  });
}

// One CA of each kind, shared by the leaf tests (RSA key generation is slow).
let ecCa: Promise<CertificateAuthority> | undefined;
let rsaCa: Promise<CertificateAuthority> | undefined;
const ecdsaCa = () => (ecCa ??= generateCa());
const rsa2048Ca = () => (rsaCa ??= generateCa({ algorithm: "rsa-2048", commonName: "k3sbox RSA test CA", validityDays: 30 }));

// ---------------------------------------------------------------------------
// generateCa

test("generateCa: ECDSA P-256 root with CA extensions", async () => {
  const before = Date.now();
  const ca = await ecdsaCa();
  const cert = parse(ca.certPem);
  assert.equal(ca.algorithm, "ecdsa-p256");
  assert.equal(cert.subject, "CN=k3sbox CA");
  assert.equal(cert.issuer, cert.subject);
  assert.equal(rawName(cert, "issuer"), rawName(cert, "subject"));
  assert.deepEqual(cert.publicKey.algorithm, { name: "ECDSA", namedCurve: "P-256" });
  assert.equal(cert.signatureAlgorithm.name, "ECDSA");
  assert.ok(await cert.isSelfSigned(webcrypto), "self-signed signature verifies");

  const bc = ext(cert, x509.BasicConstraintsExtension);
  assert.equal(bc.ca, true);
  assert.equal(bc.critical, true);
  const ku = ext(cert, x509.KeyUsagesExtension);
  assert.equal(ku.usages, x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
  assert.equal(ku.critical, true);
  const ski = ext(cert, x509.SubjectKeyIdentifierExtension);
  assert.match(ski.keyId, /^[0-9a-f]{40}$/);

  // Valid from a little before now, for ten years.
  assert.ok(cert.notBefore.getTime() <= before, "notBefore is in the past");
  assert.ok(cert.notBefore.getTime() > before - 10 * 60_000, "notBefore is at most minutes in the past");
  assert.equal(cert.notAfter.getTime() - cert.notBefore.getTime(), 3650 * DAY_MS);
  assert.equal(serialBytes(cert), 16);

  // The certificate in memory is the one in the PEM; the key exports as PKCS#8.
  assert.equal(ca.cert.serialNumber, cert.serialNumber);
  const keyPem = await ca.keyPem();
  assert.match(keyPem, /^-----BEGIN PRIVATE KEY-----\n[\s\S]+\n-----END PRIVATE KEY-----\n$/);
  assert.ok(await keyMatchesCert(keyPem, cert));
  assert.equal(ca.keys.privateKey.type, "private");
});

test("generateCa: RSA 2048 with a custom name and validity", async () => {
  const ca = await rsa2048Ca();
  const cert = parse(ca.certPem);
  assert.equal(ca.algorithm, "rsa-2048");
  assert.equal(cert.subject, "CN=k3sbox RSA test CA");
  assert.equal(cert.publicKey.algorithm.name, "RSASSA-PKCS1-v1_5");
  assert.equal((cert.publicKey.algorithm as RsaHashedKeyAlgorithm).modulusLength, 2048);
  assert.equal(cert.signatureAlgorithm.name, "RSASSA-PKCS1-v1_5");
  assert.equal(cert.notAfter.getTime() - cert.notBefore.getTime(), 30 * DAY_MS);
  assert.equal(ext(cert, x509.BasicConstraintsExtension).ca, true);
  assert.ok(await cert.isSelfSigned(webcrypto));
  assert.ok(await keyMatchesCert(await ca.keyPem(), cert));
});

test("generateCa: rejects bad options", async () => {
  await rejects(() => generateCa({ validityDays: 0 }), "invalid validityDays 0");
  await rejects(() => generateCa({ commonName: "" }), "invalid commonName");
  await rejects(() => generateCa({ commonName: "x".repeat(65) }), "invalid commonName");
  // deno-lint-ignore no-explicit-any
  await rejects(() => generateCa({ algorithm: "ed25519" as any }), 'unsupported algorithm "ed25519"');
});

// ---------------------------------------------------------------------------
// issueLeaf

test("issueLeaf: ECDSA server leaf fields", async () => {
  const ca = await ecdsaCa();
  const caCert = parse(ca.certPem);
  const before = Date.now();
  const leaf = await issueLeaf(ca, { names: ["*.example.test", "example.test", "127.0.0.1", "::1", "localhost"] });
  const cert = parse(leaf.certPem);

  assert.equal(cert.subject, "CN=*.example.test", "CN defaults to the first DNS name");
  assert.equal(rawName(cert, "issuer"), rawName(caCert, "subject"), "issuer is the CA subject, byte for byte");
  assert.ok(await signedBy(cert, caCert), "signed by the CA");
  assert.deepEqual(cert.publicKey.algorithm, { name: "ECDSA", namedCurve: "P-256" });

  assert.deepEqual(sans(cert), [
    { type: "dns", value: "*.example.test" },
    { type: "dns", value: "example.test" },
    { type: "ip", value: "127.0.0.1" },
    { type: "ip", value: "::1" },
    { type: "dns", value: "localhost" },
  ]);

  const bc = ext(cert, x509.BasicConstraintsExtension);
  assert.equal(bc.ca, false);
  assert.equal(bc.critical, true);
  const ku = ext(cert, x509.KeyUsagesExtension);
  assert.equal(ku.usages, x509.KeyUsageFlags.digitalSignature, "ECDSA: digitalSignature only");
  assert.equal(ku.critical, true);
  assert.deepEqual([...ext(cert, x509.ExtendedKeyUsageExtension).usages], [x509.ExtendedKeyUsage.serverAuth]);
  assert.equal(
    ext(cert, x509.AuthorityKeyIdentifierExtension).keyId,
    ext(caCert, x509.SubjectKeyIdentifierExtension).keyId,
    "AKI is the CA's SKI",
  );
  assert.equal(
    ext(cert, x509.SubjectKeyIdentifierExtension).keyId,
    (await x509.SubjectKeyIdentifierExtension.create(cert.publicKey, false, webcrypto)).keyId,
    "SKI is the RFC 5280 SHA-1 key identifier",
  );

  assert.ok(cert.notBefore.getTime() <= before && cert.notBefore.getTime() > before - 10 * 60_000);
  assert.equal(cert.notAfter.getTime() - cert.notBefore.getTime(), 365 * DAY_MS);

  // Serial: 16 bytes, positive (high bit clear), different every time.
  assert.equal(serialBytes(cert), 16);
  assert.ok(parseInt(cert.serialNumber.slice(0, 2), 16) < 0x80);
  const other = parse((await issueLeaf(ca, { names: ["example.test"] })).certPem);
  assert.notEqual(other.serialNumber, cert.serialNumber);

  // Key and chain.
  assert.match(leaf.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
  assert.ok(await keyMatchesCert(leaf.keyPem, cert));
  assert.equal(leaf.chainPem, leaf.certPem + ca.certPem);
  assert.equal(x509.PemConverter.decode(leaf.chainPem).length, 2);
});

test("issueLeaf: RSA leaf for server and client use", async () => {
  const ca = await ecdsaCa();
  const leaf = await issueLeaf(ca, {
    names: ["api.example.test"],
    algorithm: "rsa-2048",
    usages: ["server", "client"],
    commonName: "k3sbox test client",
    validityDays: 7,
  });
  const cert = parse(leaf.certPem);
  assert.equal(cert.subject, "CN=k3sbox test client");
  assert.equal(cert.publicKey.algorithm.name, "RSASSA-PKCS1-v1_5");
  assert.equal((cert.publicKey.algorithm as RsaHashedKeyAlgorithm).modulusLength, 2048);
  assert.equal(cert.signatureAlgorithm.name, "ECDSA", "signed with the ECDSA CA key");
  assert.equal(
    ext(cert, x509.KeyUsagesExtension).usages,
    x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
    "RSA: digitalSignature + keyEncipherment",
  );
  assert.deepEqual([...ext(cert, x509.ExtendedKeyUsageExtension).usages], [
    x509.ExtendedKeyUsage.serverAuth,
    x509.ExtendedKeyUsage.clientAuth,
  ]);
  assert.equal(cert.notAfter.getTime() - cert.notBefore.getTime(), 7 * DAY_MS);
  assert.equal(
    ext(cert, x509.SubjectKeyIdentifierExtension).keyId,
    (await x509.SubjectKeyIdentifierExtension.create(cert.publicKey, false, webcrypto)).keyId,
  );
  assert.ok(await keyMatchesCert(leaf.keyPem, cert));
  assert.ok(await signedBy(cert, parse(ca.certPem)));
});

test("issueLeaf: RSA CA signs with sha256WithRSAEncryption", async () => {
  const ca = await rsa2048Ca();
  const cert = parse((await issueLeaf(ca, { names: ["rsa.example.test"] })).certPem);
  assert.equal(cert.signatureAlgorithm.name, "RSASSA-PKCS1-v1_5");
  assert.equal((cert.signatureAlgorithm as RsaHashedKeyAlgorithm).hash.name, "SHA-256");
  assert.ok(await signedBy(cert, parse(ca.certPem)));
});

test("issueLeaf: client-only leaf may have no names", async () => {
  const ca = await ecdsaCa();
  const cert = parse((await issueLeaf(ca, { names: [], usages: ["client"], commonName: "system:admin" })).certPem);
  assert.equal(cert.subject, "CN=system:admin");
  assert.deepEqual([...ext(cert, x509.ExtendedKeyUsageExtension).usages], [x509.ExtendedKeyUsage.clientAuth]);
  assert.equal(cert.getExtension(x509.SubjectAlternativeNameExtension), null);
});

test("issueLeaf: validity never outlasts the CA", async () => {
  const ca = await generateCa({ validityDays: 2 });
  const cert = parse((await issueLeaf(ca, { names: ["short.example.test"], validityDays: 365 })).certPem);
  assert.equal(cert.notAfter.getTime(), ca.cert.notAfter.getTime());
});

test("issueLeaf: names are normalised and de-duplicated", async () => {
  const ca = await ecdsaCa();
  const cert = parse(
    (await issueLeaf(ca, {
      names: ["Foo.Example.TEST", "foo.example.test", "[::1]", "0:0:0:0:0:0:0:1", "::ffff:10.0.0.1", "10.0.0.1", "2001:DB8::a"],
    })).certPem,
  );
  assert.deepEqual(sans(cert), [
    { type: "dns", value: "foo.example.test" },
    { type: "ip", value: "::1" },
    { type: "ip", value: "::ffff:a00:1" },
    { type: "ip", value: "10.0.0.1" },
    { type: "ip", value: "2001:db8::a" },
  ]);
  assert.equal(cert.subject, "CN=foo.example.test");
  // An IP-only leaf takes its IP as CN; an over-long name falls back.
  const ipOnly = parse((await issueLeaf(ca, { names: ["192.0.2.7"] })).certPem);
  assert.equal(ipOnly.subject, "CN=192.0.2.7");
  const long = `${"a".repeat(60)}.example.test`;
  const longCn = parse((await issueLeaf(ca, { names: [long] })).certPem);
  assert.equal(longCn.subject, "CN=k3sbox leaf");
  assert.deepEqual(sans(longCn), [{ type: "dns", value: long }]);
});

test("issueLeaf: bad names are rejected, naming the value", async () => {
  const ca = await ecdsaCa();
  const bad = [
    "",
    " foo.test",
    "foo bar.test",
    "-foo.test",
    "foo-.test",
    "foo..test",
    ".foo.test",
    "foo.test.",
    "foo_bar.test",
    "*",
    "*.",
    "**.test",
    "a.*.test",
    "foo.*",
    "*foo.test",
    `${"a".repeat(64)}.test`,
    `${"abcdefghi.".repeat(26)}test`, // > 253 characters
    "foo.123",
    "256.1.1.1",
    "1.2.3",
    "1.2.3.4.5",
    "01.2.3.4",
    "::1::2",
    "1:2:3:4:5:6:7:8:9",
    "fe80::1%eth0",
    "12345::",
    "::ffff:1.2.3",
    "foo.test:8080",
    "https://foo.test",
  ];
  for (const name of bad) {
    await rejects(() => issueLeaf(ca, { names: ["ok.example.test", name] }), `invalid name "${name}"`);
  }
  // deno-lint-ignore no-explicit-any
  await rejects(() => issueLeaf(ca, { names: ["ok.test", 42 as any] }), "invalid name 42: not a string");
});

test("issueLeaf: rejects bad options", async () => {
  const ca = await ecdsaCa();
  await rejects(() => issueLeaf(ca, { names: [] }), "names: give at least one");
  await rejects(() => issueLeaf(ca, { names: [], usages: ["client"] }), "names: give at least one");
  // deno-lint-ignore no-explicit-any
  await rejects(() => issueLeaf(ca, { names: "foo.test" as any }), "names: expected an array");
  await rejects(() => issueLeaf(ca, { names: ["a.test"], usages: [] }), "usages: give at least one");
  // deno-lint-ignore no-explicit-any
  await rejects(() => issueLeaf(ca, { names: ["a.test"], usages: ["peer" as any] }), 'unknown usage "peer"');
  await rejects(() => issueLeaf(ca, { names: ["a.test"], validityDays: -1 }), "invalid validityDays -1");
  // deno-lint-ignore no-explicit-any
  await rejects(() => issueLeaf(ca, { names: ["a.test"], algorithm: "rsa-1024" as any }), 'unsupported algorithm "rsa-1024"');
});

// ---------------------------------------------------------------------------
// loadCa

const keyForms = [
  { cert: "ec-ca.crt", key: "ec-ca.sec1.key", form: "SEC1 with EC PARAMETERS", algorithm: "ecdsa-p256" },
  { cert: "ec-ca.crt", key: "ec-ca.sec1-nopub.key", form: "SEC1 without public key", algorithm: "ecdsa-p256" },
  { cert: "ec-ca.crt", key: "ec-ca.pkcs8.key", form: "PKCS#8 EC", algorithm: "ecdsa-p256" },
  { cert: "rsa-ca.crt", key: "rsa-ca.pkcs1.key", form: "PKCS#1", algorithm: "rsa-2048" },
  { cert: "rsa-ca.crt", key: "rsa-ca.pkcs8.key", form: "PKCS#8 RSA", algorithm: "rsa-2048" },
];

for (const f of keyForms) {
  test(`loadCa: openssl ${f.form} key (${f.key})`, async () => {
    const ca = await loadCa(fixture(f.cert), fixture(f.key));
    assert.equal(ca.algorithm, f.algorithm);
    const caCert = parse(fixture(f.cert));
    assert.equal(ca.cert.serialNumber, caCert.serialNumber);
    assert.ok(await keyMatchesCert(await ca.keyPem(), caCert), "keyPem() exports the same key as PKCS#8");

    for (const algorithm of ["ecdsa-p256", "rsa-2048"] as const) {
      if (algorithm === "rsa-2048" && f.form !== "PKCS#1") continue; // RSA keygen is slow; once is enough
      const leaf = parse((await issueLeaf(ca, { names: ["svc.example.test"], algorithm })).certPem);
      assert.ok(await signedBy(leaf, caCert), `${algorithm} leaf signed by the loaded CA`);
      assert.equal(rawName(leaf, "issuer"), rawName(caCert, "subject"), "issuer bytes equal the openssl subject");
      assert.equal(
        ext(leaf, x509.AuthorityKeyIdentifierExtension).keyId,
        ext(caCert, x509.SubjectKeyIdentifierExtension).keyId,
      );
    }
  });
}

test("loadCa: a SEC1 key stripped of its curve is refused, saying how to convert it", async () => {
  // The fixture's ECPrivateKey without its [0] curve field (what no openssl or Go writes, but a hand-made key may be).
  const sec1 = new Uint8Array(x509.PemConverter.decodeFirst(fixture("ec-ca.sec1-nopub.key")));
  // SEQUENCE { INTEGER 1, OCTET STRING key, [0] curve } → SEQUENCE { INTEGER 1, OCTET STRING key }: lengths are short-form here.
  assert.equal(sec1[0], 0x30);
  const body = sec1.slice(2, 2 + sec1[1]);
  const versionEnd = 2 + body[1]; // INTEGER 1
  const keyEnd = versionEnd + 2 + body[versionEnd + 1]; // OCTET STRING key
  const stripped = new Uint8Array([0x30, keyEnd, ...body.slice(0, keyEnd)]);
  assert.equal(body[keyEnd], 0xa0, "the field removed is the curve");
  const keyPem = x509.PemConverter.encode(stripped.buffer as ArrayBuffer, "EC PRIVATE KEY");
  await rejects(() => loadCa(fixture("ec-ca.crt"), keyPem), "must name its curve");
});

test("loadCa: round-trips a generated CA through PEM", async () => {
  for (const original of [await ecdsaCa(), await rsa2048Ca()]) {
    const loaded = await loadCa(original.certPem, await original.keyPem());
    assert.equal(loaded.algorithm, original.algorithm);
    assert.equal(loaded.certPem, original.certPem);
    const leaf = parse((await issueLeaf(loaded, { names: ["rt.example.test"] })).certPem);
    assert.ok(await signedBy(leaf, original.cert));
  }
});

test("loadCa: certificate bundle keeps the certificates above the CA", async () => {
  const root = await ecdsaCa();
  const bundle = `${fixture("ec-ca.crt")}${root.certPem}`;
  const ca = await loadCa(bundle, fixture("ec-ca.pkcs8.key"));
  const leaf = await issueLeaf(ca, { names: ["b.example.test"] });
  assert.equal(x509.PemConverter.decode(leaf.chainPem).length, 3);
  assert.equal(ca.cert.subject, parse(fixture("ec-ca.crt")).subject);
});

test("loadCa: a key that is not the certificate's is refused", async () => {
  const other = await generateCa();
  const otherKey = await other.keyPem();
  await rejects(() => loadCa(fixture("ec-ca.crt"), fixture("rsa-ca.pkcs1.key")), "CA key does not match CA certificate");
  await rejects(() => loadCa(fixture("rsa-ca.crt"), fixture("ec-ca.sec1.key")), "CA key does not match CA certificate");
  await rejects(() => loadCa(fixture("ec-ca.crt"), otherKey), "CA key does not match CA certificate");
  await rejects(() => loadCa(other.certPem, fixture("ec-ca.pkcs8.key")), "CA key does not match CA certificate");
});

test("loadCa: a leaf certificate is not a CA", async () => {
  const leaf = await issueLeaf(await ecdsaCa(), { names: ["leaf.example.test"] });
  await rejects(() => loadCa(leaf.certPem, leaf.keyPem), /is not a CA/);
});

test("loadCa: unsupported key PEMs", async () => {
  const expected = "unsupported private key PEM: expected PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY";
  const cert = fixture("ec-ca.crt");
  const block = (label: string, headers = "") => `-----BEGIN ${label}-----\n${headers}AAAA\n-----END ${label}-----\n`;
  await rejects(() => loadCa(cert, block("ENCRYPTED PRIVATE KEY")), expected);
  await rejects(() => loadCa(cert, block("OPENSSH PRIVATE KEY")), expected);
  await rejects(() => loadCa(cert, block("PUBLIC KEY")), expected);
  await rejects(() => loadCa(cert, "not a PEM at all"), expected);
  await rejects(() => loadCa(cert, cert), expected);
  await rejects(
    () => loadCa(cert, block("RSA PRIVATE KEY", "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\n")),
    "unsupported private key PEM: RSA PRIVATE KEY is encrypted",
  );
  await rejects(() => loadCa(cert, block("EC PRIVATE KEY")), "malformed private key");
  await rejects(() => loadCa("no certificate here", fixture("ec-ca.sec1.key")), "no CERTIFICATE block");
});

// ---------------------------------------------------------------------------
// caFromEnv

test("caFromEnv: unset, half set, PEM text and file paths", async () => {
  assert.equal(await caFromEnv({}), undefined);
  assert.equal(await caFromEnv({ K3SBOX_CA_CERT: "", K3SBOX_CA_KEY: " " }), undefined);
  await rejects(() => caFromEnv({ K3SBOX_CA_CERT: fixture("ec-ca.crt") }), "K3SBOX_CA_CERT is set but K3SBOX_CA_KEY is not");
  await rejects(() => caFromEnv({ K3SBOX_CA_KEY: fixture("ec-ca.sec1.key") }), "K3SBOX_CA_KEY is set but K3SBOX_CA_CERT is not");

  const fromText = await caFromEnv({ K3SBOX_CA_CERT: fixture("ec-ca.crt"), K3SBOX_CA_KEY: fixture("ec-ca.sec1.key") });
  assert.equal(fromText?.algorithm, "ecdsa-p256");

  const dir = await mkdtemp(join(tmpdir(), "k3sbox-pki-"));
  try {
    const certPath = join(dir, "ca.crt");
    const keyPath = join(dir, "ca.key");
    await writeFile(certPath, fixture("rsa-ca.crt"), { mode: 0o600 });
    await writeFile(keyPath, fixture("rsa-ca.pkcs1.key"), { mode: 0o600 });
    const fromFiles = await caFromEnv({ K3SBOX_CA_CERT: certPath, K3SBOX_CA_KEY: keyPath });
    assert.equal(fromFiles?.algorithm, "rsa-2048");
    await rejects(
      () => caFromEnv({ K3SBOX_CA_CERT: certPath, K3SBOX_CA_KEY: join(dir, "missing.key") }),
      "K3SBOX_CA_KEY: neither PEM text nor a readable file",
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------
// key forms: node:crypto converts what openssl writes, the same in every runtime

test("key forms: PKCS#1 and SEC1 keys load as the same key as their PKCS#8 form", async () => {
  for (const [crt, forms] of [["rsa-ca.crt", ["rsa-ca.pkcs1.key", "rsa-ca.pkcs8.key"]], ["ec-ca.crt", ["ec-ca.sec1.key", "ec-ca.sec1-nopub.key", "ec-ca.pkcs8.key"]]] as const) {
    const loaded = await Promise.all(forms.map((f) => loadCa(fixture(crt), fixture(f))));
    const jwks = await Promise.all(loaded.map(async (ca) => JSON.stringify(await webcrypto.subtle.exportKey("jwk", ca.keys.privateKey))));
    for (const j of jwks) assert.equal(j, jwks[0], `${forms.join(", ")} are one key`);
  }
});
