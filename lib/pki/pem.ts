// PEM text in and out: reading every block of a PEM file (and whether openssl
// encrypted it), writing a PKCS#8 key.

import { x509 } from "./x509.ts";

/** Bytes backed by a plain ArrayBuffer: what WebCrypto's BufferSource accepts. */
export type Bytes = Uint8Array<ArrayBuffer>;

export interface PemBlock {
  label: string;
  der: Bytes;
  /** Legacy openssl encryption (`Proc-Type: 4,ENCRYPTED` headers). */
  encrypted: boolean;
}

/** Every PEM block in `text` (@peculiar/x509's reader), with whether openssl encrypted it. */
export function parsePem(text: string): PemBlock[] {
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

export function pkcs8Pem(der: ArrayBuffer): string {
  return ensureNewline(x509.PemConverter.encode(der, "PRIVATE KEY"));
}

export function ensureNewline(pem: string): string {
  return pem.endsWith("\n") ? pem : pem + "\n";
}
