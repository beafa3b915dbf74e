// Leaf certificates signed by a CertificateAuthority: TLS servers' (SANs,
// serverAuth) and clients' (clientAuth), with their keys.

import type { X509 } from "../../deps.ts";
import type { CertificateAuthority } from "./ca.ts";
import { BACKDATE_MS, checkCommonName, checkValidity, DAY_MS, randomSerial, wholeSeconds } from "./fields.ts";
import { generateKeys, type KeyAlgorithm, keyIdentifier, signingAlgorithmFor } from "./keys.ts";
import { ensureNewline, pkcs8Pem } from "./pem.ts";
import { defaultCommonName, parseNames } from "./sans.ts";
import { ready, webcrypto, x509 } from "./x509.ts";

export type LeafUsage = "server" | "client";

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
