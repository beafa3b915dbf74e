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
//
// This index gathers lib/pki/: ca.ts (CAs: create, load), leaf.ts (leaf
// certificates), keys.ts and pem.ts (key pairs, PEM), sans.ts (subject
// alternative names), fields.ts (serial, validity, CN).

export { CaLoadError, caFromEnv, type CaOptions, CertificateAuthority, generateCa, loadCa, loadCaNamed, MIN_RSA_BITS } from "./pki/ca.ts";
export type { KeyAlgorithm } from "./pki/keys.ts";
export { type IssuedLeaf, issueLeaf, type LeafOptions, type LeafUsage } from "./pki/leaf.ts";
