// Key pairs: minting them, the signature algorithm a key signs with, key
// identifiers, and reading an existing private key in any PEM form openssl
// and k3s write.

import { createPrivateKey, type KeyObject } from "node:crypto";
import { toHex } from "../bytes.ts";
import { type Bytes, parsePem } from "./pem.ts";
import { webcrypto, x509 } from "./x509.ts";

/** Key algorithms k3sbox mints. ECDSA P-256 is the default everywhere. */
export type KeyAlgorithm = "ecdsa-p256" | "rsa-2048";

const ECDSA_P256: EcKeyGenParams = { name: "ECDSA", namedCurve: "P-256" };
const RSA_2048: RsaHashedKeyGenParams = {
  name: "RSASSA-PKCS1-v1_5",
  modulusLength: 2048,
  publicExponent: new Uint8Array([1, 0, 1]),
  hash: "SHA-256",
};

export async function generateKeys(algorithm: KeyAlgorithm): Promise<CryptoKeyPair> {
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
export function signingAlgorithmFor(key: CryptoKey): Algorithm | EcdsaParams {
  if (key.algorithm.name === "ECDSA") {
    const curve = (key.algorithm as EcKeyAlgorithm).namedCurve;
    return { name: "ECDSA", hash: curve === "P-384" ? "SHA-384" : curve === "P-521" ? "SHA-512" : "SHA-256" } as EcdsaParams;
  }
  return { name: key.algorithm.name };
}

/** RFC 5280 4.2.1.2 method 1 (SHA-1 of the subjectPublicKey bits), as hex: what openssl computes too. */
export async function keyIdentifier(spki: ArrayBuffer): Promise<string> {
  const id = await new x509.PublicKey(spki).getKeyIdentifier(webcrypto);
  return toHex(id);
}

/** Compares a private key's public half (via JWK) with a public key. */
export async function samePublicKey(privateKey: CryptoKey, publicKey: CryptoKey): Promise<boolean> {
  const [priv, pub] = await Promise.all([
    webcrypto.subtle.exportKey("jwk", privateKey),
    webcrypto.subtle.exportKey("jwk", publicKey),
  ]);
  return priv.kty === "RSA"
    ? priv.n === pub.n && priv.e === pub.e
    : priv.crv === pub.crv && priv.x === pub.x && priv.y === pub.y;
}

/** The curves WebCrypto signs with, by OpenSSL's name for them. */
const CURVES: Record<string, "P-256" | "P-384" | "P-521"> = { prime256v1: "P-256", secp384r1: "P-384", secp521r1: "P-521" };

export type KeyKind = { kind: "rsa" } | { kind: "ec"; curve: "P-256" | "P-384" | "P-521" };

/**
 * A private key in any PEM form openssl and k3s write (PKCS#8 `PRIVATE KEY`,
 * PKCS#1 `RSA PRIVATE KEY`, SEC1 `EC PRIVATE KEY`) → PKCS#8 DER, the one
 * form WebCrypto imports, and its algorithm. node:crypto does the converting
 * in Bun, Deno and Node alike.
 */
export function readPrivateKey(pem: string): { pkcs8: Bytes; kind: KeyKind } {
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
