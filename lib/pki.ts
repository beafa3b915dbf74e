// Certificates for throwaway clusters and test servers, minted in-process
// with WebCrypto and @peculiar/x509: no openssl process, no files. Keys live
// only in memory; callers decide what (if anything) to write to disk.
//
//   const ca = await generateCa();                       // ECDSA P-256 root
//   const leaf = await issueLeaf(ca, { names: ["*.example.test", "127.0.0.1"] });
//   https.createServer({ key: leaf.keyPem, cert: leaf.chainPem }, ...)
//
// An existing CA (e.g. k3s's server-ca.crt/.key, or one from openssl) loads
// with `loadCa`, or from the environment with `caFromEnv`.

import { createPrivateKey, type KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";
import process from "node:process";
import { loadX509, type X509, type X509Module } from "../deps.ts";
import { toHex } from "./bytes.ts";
import { isDnsLabel } from "./names.ts";

// @peculiar/x509 loads on the first certificate operation (see deps.ts); the
// exported async functions await ready() before any helper here uses it.
let x509 = undefined as unknown as X509Module;
async function ready(): Promise<void> {
  x509 ??= await loadX509();
}

/** Key algorithms k3sbox mints. ECDSA P-256 is the default everywhere. */
export type KeyAlgorithm = "ecdsa-p256" | "rsa-2048";
export type LeafUsage = "server" | "client";

export interface CaOptions {
  /** Subject CN. Default "k3sbox CA". */
  commonName?: string;
  /** Default "ecdsa-p256". */
  algorithm?: KeyAlgorithm;
  /** Default 3650 (ten years, like k3s's own CAs). */
  validityDays?: number;
}

export interface LeafOptions {
  /**
   * Subject alternative names: DNS names (wildcards as a whole leftmost
   * label, `*.example.test`) and IPv4/IPv6 literals. Required unless the leaf
   * is client-only and has a `commonName`.
   */
  names: string[];
  /** Subject CN. Default: the first name (if it fits the 64-character limit). */
  commonName?: string;
  /** Default "ecdsa-p256". */
  algorithm?: KeyAlgorithm;
  /** Default 365; never past the CA's own notAfter. */
  validityDays?: number;
  /** Extended key usages. Default ["server"]. */
  usages?: LeafUsage[];
}

export interface IssuedLeaf {
  /** The leaf certificate alone. */
  certPem: string;
  /** The leaf's private key, PKCS#8 (`BEGIN PRIVATE KEY`). */
  keyPem: string;
  /** The leaf followed by the CA certificate(s): what a TLS server presents. */
  chainPem: string;
}

const DAY_MS = 86_400_000;
/** Certificates start this far in the past, so small clock skew between hosts and containers does no harm. */
const BACKDATE_MS = 5 * 60_000;
const CN_MAX = 64; // ub-common-name, RFC 5280

const ECDSA_P256: EcKeyGenParams = { name: "ECDSA", namedCurve: "P-256" };
const RSA_2048: RsaHashedKeyGenParams = {
  name: "RSASSA-PKCS1-v1_5",
  modulusLength: 2048,
  publicExponent: new Uint8Array([1, 0, 1]),
  hash: "SHA-256",
};

const webcrypto: Crypto = globalThis.crypto;

/**
 * A certificate authority held in memory: its key pair (extractable, so
 * `keyPem()` can export it) and its certificate.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { generateCa } from "k3sbox";
 *
 * const ca = await generateCa({ commonName: "test CA", algorithm: "ecdsa-p256" });
 * assert.equal(ca.algorithm, "ecdsa-p256");
 * assert.equal(ca.cert.subject, "CN=test CA");
 * assert.match(ca.certPem, /^-----BEGIN CERTIFICATE-----/);
 * assert.match(await ca.keyPem(), /^-----BEGIN PRIVATE KEY-----/);
 * ```
 */
export class CertificateAuthority {
  /** PEM of the CA certificate followed by any further chain certificates it was loaded with. */
  readonly certPem: string;

  constructor(
    readonly keys: CryptoKeyPair,
    readonly cert: X509.X509Certificate,
    /** Describes the key, e.g. "ecdsa-p256", "ecdsa-p384", "rsa-2048". */
    readonly algorithm: string,
    /** Certificates above this CA (intermediate's issuers), PEM; usually empty. */
    readonly chainAbovePem: string[] = [],
  ) {
    this.certPem = [cert.toString("pem"), ...chainAbovePem].map(ensureNewline).join("");
  }

  /** The CA private key as PKCS#8 PEM (`BEGIN PRIVATE KEY`). */
  async keyPem(): Promise<string> {
    await ready();
    return pkcs8Pem(await webcrypto.subtle.exportKey("pkcs8", this.keys.privateKey));
  }
}

/**
 * Creates a self-signed root CA.
 *
 * @example
 * ```ts
 * import { type EnvironmentOptions, generateCa, k3s } from "k3sbox";
 *
 * // One CA for several environments: a client that trusts it reaches every one's ingress.
 * const ca = await generateCa({ commonName: "suite CA", validityDays: 7 });
 * const services = { k8s: k3s({ ingressDomains: ["example.test"] }) };
 * const options: EnvironmentOptions<typeof services> = { services, ca: { certPem: ca.certPem, keyPem: await ca.keyPem() } };
 * // each startEnvironment(options) mints its ingress certificates from this CA
 * ```
 */
export async function generateCa(opts: CaOptions = {}): Promise<CertificateAuthority> {
  await ready();
  const algorithm = opts.algorithm ?? "ecdsa-p256";
  const commonName = checkCommonName(opts.commonName ?? "k3sbox CA");
  const validityDays = checkValidity(opts.validityDays ?? 3650);
  const keys = await generateKeys(algorithm);
  const notBefore = wholeSeconds(Date.now() - BACKDATE_MS);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ CN: [commonName] }],
    notBefore,
    notAfter: wholeSeconds(notBefore.getTime() + validityDays * DAY_MS),
    keys,
    signingAlgorithm: signingAlgorithmFor(keys.privateKey),
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, webcrypto),
    ],
  }, webcrypto);
  return new CertificateAuthority(keys, cert, algorithm);
}

/** loadCa() refused its input; `part` says which input was at fault ("pair": they do not belong together). */
export class CaLoadError extends Error {
  constructor(readonly part: "cert" | "key" | "pair", message: string) {
    super(message);
    this.name = "CaLoadError";
  }
}

function inPart<T>(part: CaLoadError["part"], fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw err instanceof CaLoadError ? err : new CaLoadError(part, (err as Error).message);
  }
}

/** Weakest RSA CA key accepted. */
export const MIN_RSA_BITS = 2048;

/**
 * Loads an existing CA. `certPem` holds the CA certificate (first) and
 * optionally the certificates above it; `keyPem` its private key as PKCS#8
 * (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`,
 * optionally preceded by `EC PARAMETERS`), as openssl and k3s write them.
 * A certificate that is not a valid CA now, or a key that does not match it,
 * is refused with a message saying which.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { generateCa, loadCa } from "k3sbox";
 *
 * const original = await generateCa();
 * const loaded = await loadCa(original.certPem, await original.keyPem()); // e.g. from K3SBOX_CA_CERT / K3SBOX_CA_KEY files
 * assert.equal(loaded.cert.subject, original.cert.subject);
 * ```
 */
export async function loadCa(certPem: string, keyPem: string): Promise<CertificateAuthority> {
  await ready();
  const certBlocks = inPart("cert", () => parsePem(certPem)).filter((b) => b.label === "CERTIFICATE");
  if (certBlocks.length === 0) throw new CaLoadError("cert", "CA certificate PEM: no CERTIFICATE block found");
  const cert = inPart("cert", () => {
    try {
      return new x509.X509Certificate(certBlocks[0].der);
    } catch (err) {
      throw new Error(`CA certificate PEM: not a valid X.509 certificate (${(err as Error).message})`);
    }
  });

  const basic = cert.getExtension(x509.BasicConstraintsExtension);
  if (!basic?.ca) {
    throw new CaLoadError("cert", `CA certificate "${cert.subject}" is not a CA (basicConstraints CA:TRUE missing)`);
  }
  const usage = cert.getExtension(x509.KeyUsagesExtension);
  if (usage && !(usage.usages & x509.KeyUsageFlags.keyCertSign)) {
    throw new CaLoadError("cert", `CA certificate "${cert.subject}" is not a CA (keyUsage lacks keyCertSign)`);
  }

  // A CA outside its validity would mint leaves every client refuses (the leaf's notAfter is capped at the CA's).
  const now = Date.now();
  if (cert.notAfter.getTime() <= now) {
    throw new CaLoadError("cert", `CA certificate "${cert.subject}" expired on ${cert.notAfter.toISOString()}; give a CA that is valid now`);
  }
  if (cert.notBefore.getTime() > now + BACKDATE_MS) {
    throw new CaLoadError("cert", `CA certificate "${cert.subject}" is not valid until ${cert.notBefore.toISOString()}; give a CA that is valid now (is the clock right?)`);
  }

  const { pkcs8, kind } = inPart("key", () => readPrivateKey(keyPem));
  const importAlg: RsaHashedImportParams | EcKeyImportParams = kind.kind === "rsa"
    ? { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }
    : { name: "ECDSA", namedCurve: kind.curve };
  let privateKey: CryptoKey;
  try {
    privateKey = await webcrypto.subtle.importKey("pkcs8", pkcs8, importAlg, true, ["sign"]);
  } catch (err) {
    throw new CaLoadError("key", `CA private key could not be imported: ${(err as Error).message}`);
  }
  // Import the certificate's public key the same way; a key of another
  // algorithm or curve fails here, and a different key fails the comparison.
  let publicKey: CryptoKey;
  try {
    publicKey = await webcrypto.subtle.importKey("spki", cert.publicKey.rawData, importAlg, true, ["verify"]);
  } catch {
    throw new CaLoadError("pair", "CA key does not match CA certificate");
  }
  if (!(await samePublicKey(privateKey, publicKey))) throw new CaLoadError("pair", "CA key does not match CA certificate");

  const bits = kind.kind === "rsa" ? (privateKey.algorithm as RsaHashedKeyAlgorithm).modulusLength : 0;
  if (kind.kind === "rsa" && bits < MIN_RSA_BITS) {
    throw new CaLoadError("key", `CA key is RSA-${bits}: too weak (browsers, Go and OpenSSL refuse keys below ${MIN_RSA_BITS} bits); give an RSA key of at least ${MIN_RSA_BITS} bits or an ECDSA P-256/P-384 key`);
  }
  const algorithm = kind.kind === "rsa"
    ? `rsa-${bits}`
    : `ecdsa-${kind.curve.replace("-", "").toLowerCase()}`;
  const above = certBlocks.slice(1).map((b) => x509.PemConverter.encode(b.der, "CERTIFICATE"));
  return new CertificateAuthority({ privateKey, publicKey }, cert, algorithm, above);
}

/**
 * Mints a leaf certificate and key signed by `ca`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { generateCa, issueLeaf } from "k3sbox";
 *
 * const ca = await generateCa();
 * const server = await issueLeaf(ca, { names: ["*.example.test", "127.0.0.1"] });
 * const client = await issueLeaf(ca, { names: [], commonName: "tester", usages: ["client"], validityDays: 1 });
 * assert.ok(server.chainPem.startsWith(server.certPem)); // leaf, then the CA: what a TLS server presents
 * assert.match(client.keyPem, /^-----BEGIN PRIVATE KEY-----/);
 * ```
 */
export async function issueLeaf(ca: CertificateAuthority, opts: LeafOptions): Promise<IssuedLeaf> {
  await ready();
  const usages = opts.usages ?? ["server"];
  if (!Array.isArray(usages) || usages.length === 0) throw new Error("usages: give at least one of \"server\", \"client\"");
  for (const u of usages) {
    if (u !== "server" && u !== "client") throw new Error(`usages: unknown usage "${u}" (expected "server" or "client")`);
  }
  const sans = parseNames(opts.names);
  if (sans.length === 0 && (usages.includes("server") || opts.commonName === undefined)) {
    throw new Error("names: give at least one DNS name or IP address");
  }
  const algorithm = opts.algorithm ?? "ecdsa-p256";
  const commonName = checkCommonName(opts.commonName ?? defaultCommonName(sans));
  const validityDays = checkValidity(opts.validityDays ?? 365);

  const keys = await generateKeys(algorithm);
  const notBefore = wholeSeconds(Date.now() - BACKDATE_MS);
  const caNotAfter = ca.cert.notAfter.getTime();
  const notAfter = wholeSeconds(Math.min(notBefore.getTime() + validityDays * DAY_MS, caNotAfter));

  // The extensions that depend only on the CA, key type and usages are built
  // once and reused: @peculiar/x509's ASN.1 encoding is most of a leaf's cost.
  const [spki, pkcs8] = await Promise.all([
    webcrypto.subtle.exportKey("spki", keys.publicKey),
    webcrypto.subtle.exportKey("pkcs8", keys.privateKey),
  ]);
  const extensions: X509.Extension[] = [
    ...(await fixedLeafExtensions(ca, algorithm, usages)),
    new x509.SubjectKeyIdentifierExtension(await keyIdentifier(spki), false),
  ];
  if (sans.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(sans, false));

  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ CN: [commonName] }],
    // The issuer is the CA's subject, byte for byte (Go compares raw bytes).
    issuer: ca.cert.subjectName,
    notBefore,
    notAfter,
    publicKey: spki,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: signingAlgorithmFor(ca.keys.privateKey),
    extensions,
  }, webcrypto);
  const certPem = ensureNewline(cert.toString("pem"));
  return { certPem, keyPem: pkcs8Pem(pkcs8), chainPem: certPem + ca.certPem };
}

/**
 * Loads the CA named by `K3SBOX_CA_CERT` and `K3SBOX_CA_KEY` (each either
 * PEM text or a path to a PEM file). Returns undefined when neither is set;
 * throws when only one is.
 */
export async function caFromEnv(
  env: Record<string, string | undefined> = process.env,
): Promise<CertificateAuthority | undefined> {
  const certVar = env.K3SBOX_CA_CERT?.trim() || undefined;
  const keyVar = env.K3SBOX_CA_KEY?.trim() || undefined;
  if (!certVar && !keyVar) return undefined;
  if (!certVar || !keyVar) {
    throw new CaLoadError(
      certVar ? "key" : "cert",
      `${certVar ? "K3SBOX_CA_CERT" : "K3SBOX_CA_KEY"} is set but ${certVar ? "K3SBOX_CA_KEY" : "K3SBOX_CA_CERT"} is not: set both or neither`,
    );
  }
  const [certPem, keyPem] = await Promise.all([
    pemOrFile("K3SBOX_CA_CERT", certVar),
    pemOrFile("K3SBOX_CA_KEY", keyVar),
  ]);
  return await loadCaNamed(certPem, keyPem, { cert: "K3SBOX_CA_CERT", key: "K3SBOX_CA_KEY" });
}

/** loadCa() whose errors start with the names the caller knows the inputs by (variables, options). */
export async function loadCaNamed(certPem: string, keyPem: string, names: { cert: string; key: string }): Promise<CertificateAuthority> {
  try {
    return await loadCa(certPem, keyPem);
  } catch (err) {
    if (!(err instanceof CaLoadError)) throw err;
    const who = err.part === "pair" ? `${names.cert} and ${names.key}` : names[err.part];
    throw new CaLoadError(err.part, `${who}: ${err.message}`);
  }
}

// ---------------------------------------------------------------------------
// Names

type San = { type: "dns" | "ip"; value: string };

/** Validates and classifies SAN names; lower-cases DNS names, canonicalises IPs, drops duplicates. */
function parseNames(names: unknown): San[] {
  if (!Array.isArray(names)) throw new Error("names: expected an array of DNS names and IP addresses");
  const out: San[] = [];
  const seen = new Set<string>();
  for (const raw of names) {
    const san = parseName(raw);
    const key = `${san.type}:${san.value}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(san);
    }
  }
  return out;
}

function parseName(raw: unknown): San {
  if (typeof raw !== "string") throw new Error(`invalid name ${JSON.stringify(raw)}: not a string`);
  const bad = (why: string) => new Error(`invalid name "${raw}": ${why}`);
  if (raw === "") throw bad("empty");
  // IPv6, optionally in URL brackets.
  const v6 = raw.startsWith("[") && raw.endsWith("]") ? raw.slice(1, -1) : raw;
  if (v6.includes(":")) {
    const bytes = parseIPv6(v6);
    if (!bytes) throw bad("not a valid IPv6 address");
    // Full, uncompressed groups: unambiguous for the SAN encoder.
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
    return { type: "ip", value: groups.join(":") };
  }
  // Anything made only of digits and dots is an IPv4 attempt, never a DNS name.
  if (/^[0-9.]+$/.test(raw)) {
    const bytes = parseIPv4(raw);
    if (!bytes) throw bad("not a valid IPv4 address");
    return { type: "ip", value: bytes.join(".") };
  }
  const name = raw.toLowerCase();
  const host = name.startsWith("*.") ? name.slice(2) : name;
  if (host.length > 253) throw bad("DNS name longer than 253 characters");
  const labels = host.split(".");
  for (const label of labels) {
    if (label === "*") throw bad("a wildcard must be the whole leftmost label (*.example.test)");
    if (!isDnsLabel(label)) {
      throw bad(
        label === ""
          ? "empty DNS label (leading, trailing or double dot)"
          : `DNS label "${label}" must be 1-63 letters, digits or hyphens, not starting or ending with a hyphen`,
      );
    }
  }
  if (/^[0-9]+$/.test(labels[labels.length - 1]) && labels.length > 1) {
    throw bad("the last DNS label must not be all digits");
  }
  return { type: "dns", value: name };
}

/** Strict dotted-quad IPv4 (no leading zeros) → 4 bytes, or undefined. */
function parseIPv4(text: string): number[] | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const bytes: number[] = [];
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255) return undefined;
    bytes.push(Number(p));
  }
  return bytes;
}

/** RFC 4291 text IPv6 (with `::` and a trailing dotted quad allowed, no zone) → 16 bytes, or undefined. */
function parseIPv6(text: string): number[] | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groupsOf = (s: string): number[] | undefined => {
    if (s === "") return [];
    const out: number[] = [];
    const parts = s.split(":");
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      if (i === parts.length - 1 && p.includes(".")) {
        const v4 = parseIPv4(p);
        if (!v4) return undefined;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(p)) {
        out.push(parseInt(p, 16));
      } else {
        return undefined;
      }
    }
    return out;
  };
  const head = groupsOf(halves[0]);
  const tail = halves.length === 2 ? groupsOf(halves[1]) : [];
  if (!head || !tail) return undefined;
  // A dotted quad may only end the address.
  if (halves.length === 2 && halves[0].includes(".")) return undefined;
  let groups: number[];
  if (halves.length === 2) {
    const missing = 8 - head.length - tail.length;
    if (missing < 1) return undefined;
    groups = [...head, ...new Array(missing).fill(0), ...tail];
  } else {
    groups = head;
  }
  if (groups.length !== 8) return undefined;
  return groups.flatMap((g) => [g >> 8, g & 0xff]);
}

function defaultCommonName(sans: San[]): string {
  const first = sans.find((s) => s.type === "dns") ?? sans[0];
  return first && first.value.length <= CN_MAX ? first.value : "k3sbox leaf";
}

function checkCommonName(cn: string): string {
  if (typeof cn !== "string" || cn.length === 0 || cn.length > CN_MAX) {
    throw new Error(`invalid commonName ${JSON.stringify(cn)}: must be 1-${CN_MAX} characters`);
  }
  return cn;
}

function checkValidity(days: number): number {
  if (typeof days !== "number" || !Number.isFinite(days) || days <= 0) {
    throw new Error(`invalid validityDays ${JSON.stringify(days)}: must be a positive number`);
  }
  return days;
}

// ---------------------------------------------------------------------------
// Keys and PEM

async function generateKeys(algorithm: KeyAlgorithm): Promise<CryptoKeyPair> {
  switch (algorithm) {
    case "ecdsa-p256":
      return await webcrypto.subtle.generateKey(ECDSA_P256, true, ["sign", "verify"]) as CryptoKeyPair;
    case "rsa-2048":
      return await webcrypto.subtle.generateKey(RSA_2048, true, ["sign", "verify"]) as CryptoKeyPair;
    default:
      throw new Error(`unsupported algorithm "${algorithm}": expected "ecdsa-p256" or "rsa-2048"`);
  }
}

/** The signature algorithm a CA key signs with: SHA-256, or SHA-384/512 for the larger curves. */
function signingAlgorithmFor(key: CryptoKey): Algorithm | EcdsaParams {
  if (key.algorithm.name === "ECDSA") {
    const curve = (key.algorithm as EcKeyAlgorithm).namedCurve;
    return { name: "ECDSA", hash: curve === "P-384" ? "SHA-384" : curve === "P-521" ? "SHA-512" : "SHA-256" } as EcdsaParams;
  }
  return { name: key.algorithm.name };
}

// Per CA: its key identifier and the leaf extensions fixed by (key type, usages).
const leafExtensionCache = new WeakMap<CertificateAuthority, Map<string, Promise<X509.Extension[]>>>();

/** basicConstraints, keyUsage, extendedKeyUsage and authorityKeyIdentifier for a leaf of `ca`. */
function fixedLeafExtensions(
  ca: CertificateAuthority,
  algorithm: KeyAlgorithm,
  usages: LeafUsage[],
): Promise<X509.Extension[]> {
  let perCa = leafExtensionCache.get(ca);
  if (!perCa) leafExtensionCache.set(ca, perCa = new Map());
  const eku = [...new Set(usages)].sort().reverse(); // "server" before "client"
  const key = `${algorithm}/${eku.join(",")}`;
  let exts = perCa.get(key);
  if (!exts) {
    exts = (async () => {
      let keyUsage = x509.KeyUsageFlags.digitalSignature;
      if (algorithm === "rsa-2048") keyUsage |= x509.KeyUsageFlags.keyEncipherment;
      return [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(keyUsage, true),
        new x509.ExtendedKeyUsageExtension(
          eku.map((u) => u === "server" ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth),
          false,
        ),
        await authorityKeyId(ca),
      ];
    })();
    perCa.set(key, exts);
  }
  return exts;
}

/** Key identifier of the CA: its subjectKeyIdentifier if it has one, else derived from its public key. */
async function authorityKeyId(ca: CertificateAuthority): Promise<X509.AuthorityKeyIdentifierExtension> {
  const ski = ca.cert.getExtension(x509.SubjectKeyIdentifierExtension);
  if (ski) return new x509.AuthorityKeyIdentifierExtension(ski.keyId, false);
  return new x509.AuthorityKeyIdentifierExtension(await keyIdentifier(ca.cert.publicKey.rawData), false);
}

/** RFC 5280 4.2.1.2 method 1 (SHA-1 of the subjectPublicKey bits), as hex: what openssl computes too. */
async function keyIdentifier(spki: ArrayBuffer): Promise<string> {
  const id = await new x509.PublicKey(spki).getKeyIdentifier(webcrypto);
  return toHex(id);
}

/** Compares a private key's public half (via JWK) with a public key. */
async function samePublicKey(privateKey: CryptoKey, publicKey: CryptoKey): Promise<boolean> {
  const [priv, pub] = await Promise.all([
    webcrypto.subtle.exportKey("jwk", privateKey),
    webcrypto.subtle.exportKey("jwk", publicKey),
  ]);
  return priv.kty === "RSA"
    ? priv.n === pub.n && priv.e === pub.e
    : priv.crv === pub.crv && priv.x === pub.x && priv.y === pub.y;
}

/** Bytes backed by a plain ArrayBuffer: what WebCrypto's BufferSource accepts. */
type Bytes = Uint8Array<ArrayBuffer>;

/** The curves WebCrypto signs with, by OpenSSL's name for them. */
const CURVES: Record<string, "P-256" | "P-384" | "P-521"> = { prime256v1: "P-256", secp384r1: "P-384", secp521r1: "P-521" };

type KeyKind = { kind: "rsa" } | { kind: "ec"; curve: "P-256" | "P-384" | "P-521" };

/**
 * A private key in any PEM form openssl and k3s write (PKCS#8 `PRIVATE KEY`,
 * PKCS#1 `RSA PRIVATE KEY`, SEC1 `EC PRIVATE KEY`) → PKCS#8 DER, the one
 * form WebCrypto imports, and its algorithm. node:crypto does the converting
 * in Bun, Deno and Node alike.
 */
function readPrivateKey(pem: string): { pkcs8: Bytes; kind: KeyKind } {
  const blocks = parsePem(pem);
  const key = blocks.find((b) => b.label.endsWith("PRIVATE KEY"));
  const unsupported = new Error(
    `unsupported private key PEM: expected PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY` +
      (key ? ` (got ${key.label})` : blocks.length ? ` (got ${blocks.map((b) => b.label).join(", ")})` : ""),
  );
  if (!key) throw unsupported;
  if (key.encrypted) throw new Error(`unsupported private key PEM: ${key.label} is encrypted; decrypt it first`);
  if (!["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"].includes(key.label)) throw unsupported; // e.g. ENCRYPTED PRIVATE KEY, OPENSSH PRIVATE KEY
  let object: KeyObject;
  try {
    object = createPrivateKey({ key: x509.PemConverter.encode(key.der.buffer, key.label), format: "pem" });
  } catch (err) {
    const hint = key.label === "EC PRIVATE KEY" ? " (an EC PRIVATE KEY must name its curve; `openssl pkcs8 -topk8 -nocrypt` converts a key to PKCS#8)" : "";
    throw new Error(`malformed private key: ${(err as Error).message}${hint}`);
  }
  const pkcs8 = new Uint8Array(object.export({ format: "der", type: "pkcs8" }));
  if (object.asymmetricKeyType === "rsa") return { pkcs8, kind: { kind: "rsa" } };
  const curve = object.asymmetricKeyType === "ec" ? CURVES[object.asymmetricKeyDetails?.namedCurve ?? ""] : undefined;
  if (curve) return { pkcs8, kind: { kind: "ec", curve } };
  const what = object.asymmetricKeyType === "ec" ? `EC curve ${object.asymmetricKeyDetails?.namedCurve}` : `a ${object.asymmetricKeyType} key`;
  throw new Error(`unsupported private key PEM: ${what}; give an RSA key or an ECDSA P-256/P-384/P-521 key`);
}

interface PemBlock {
  label: string;
  der: Bytes;
  /** Legacy openssl encryption (`Proc-Type: 4,ENCRYPTED` headers). */
  encrypted: boolean;
}

/** Every PEM block in `text` (@peculiar/x509's reader), with whether openssl encrypted it. */
function parsePem(text: string): PemBlock[] {
  if (typeof text !== "string") throw new Error("expected PEM text");
  let structs: ReturnType<typeof x509.PemConverter.decodeWithHeaders>;
  try {
    structs = x509.PemConverter.decodeWithHeaders(text);
  } catch (err) {
    throw new Error(`PEM: ${(err as Error).message}`);
  }
  return structs.map((b) => ({
    label: b.type,
    der: new Uint8Array(b.rawData),
    encrypted: b.headers.some((h) => /ENCRYPTED/i.test(`${h.key}: ${h.value}`)),
  }));
}

function pkcs8Pem(der: ArrayBuffer): string {
  return ensureNewline(x509.PemConverter.encode(der, "PRIVATE KEY"));
}

async function pemOrFile(variable: string, value: string): Promise<string> {
  if (value.includes("-----BEGIN ")) return value;
  try {
    return await readFile(value, "utf8");
  } catch (err) {
    throw new CaLoadError(variable === "K3SBOX_CA_CERT" ? "cert" : "key", `${variable}: neither PEM text nor a readable file (${(err as Error).message})`);
  }
}

// ---------------------------------------------------------------------------
// Small helpers

/** 16 random bytes, high bit clear (positive) and next bit set (no leading zero byte): always 16 bytes. */
function randomSerial(): string {
  const b = webcrypto.getRandomValues(new Uint8Array(16));
  b[0] = (b[0] & 0x7f) | 0x40;
  return toHex(b);
}

/** Certificates carry whole seconds; truncating up front keeps notBefore/notAfter predictable. */
function wholeSeconds(ms: number): Date {
  return new Date(Math.floor(ms / 1000) * 1000);
}

function ensureNewline(pem: string): string {
  return pem.endsWith("\n") ? pem : pem + "\n";
}
