// Certificate authorities: a new self-signed root (generateCa), an existing
// one from PEM (loadCa, with every refusal naming the input at fault), or
// from the K3SBOX_CA_CERT/K3SBOX_CA_KEY environment (caFromEnv).

import { readFile } from "node:fs/promises";
import process from "node:process";
import type { X509 } from "../../deps.ts";
import { BACKDATE_MS, checkCommonName, checkValidity, DAY_MS, randomSerial, wholeSeconds } from "./fields.ts";
import { generateKeys, type KeyAlgorithm, readPrivateKey, samePublicKey, signingAlgorithmFor } from "./keys.ts";
import { ensureNewline, parsePem, pkcs8Pem } from "./pem.ts";
import { ready, webcrypto, x509 } from "./x509.ts";

export interface CaOptions {
  /** Subject CN. Default "k3sbox CA". */
  commonName?: string;
  /** Default "ecdsa-p256". */
  algorithm?: KeyAlgorithm;
  /** Default 3650 (ten years, like k3s's own CAs). */
  validityDays?: number;
}

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

async function pemOrFile(variable: string, value: string): Promise<string> {
  if (value.includes("-----BEGIN ")) return value;
  try {
    return await readFile(value, "utf8");
  } catch (err) {
    throw new CaLoadError(variable === "K3SBOX_CA_CERT" ? "cert" : "key", `${variable}: neither PEM text nor a readable file (${(err as Error).message})`);
  }
}
