// A tiny DER reader/writer: just enough ASN.1 to turn the private-key PEM
// forms that openssl and k3s write (PKCS#1 `RSA PRIVATE KEY`, SEC1
// `EC PRIVATE KEY`) into PKCS#8, the only private-key format WebCrypto
// imports, and to read which algorithm a PKCS#8 key is for.
//
// DER is a sequence of TLV (tag, length, value) items. We only need
// single-byte tags (all the universal and context tags used in key files)
// and definite lengths; anything else is rejected with a DerError.

export class DerError extends Error {
  constructor(message: string) {
    super(`DER: ${message}`);
    this.name = "DerError";
  }
}

/** Bytes backed by a plain ArrayBuffer: what WebCrypto's BufferSource accepts. */
export type Bytes = Uint8Array<ArrayBuffer>;

/** Universal and context-specific tags used below. */
export const Tag = {
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  SEQUENCE: 0x30, // constructed
  CONTEXT_0: 0xa0, // [0] EXPLICIT, constructed
  CONTEXT_1: 0xa1, // [1] EXPLICIT, constructed
} as const;

/** One decoded TLV item: `value` is a view of its content bytes. */
export interface Tlv {
  tag: number;
  value: Uint8Array;
  /** Offset just past this item in the buffer it was read from. */
  end: number;
}

/** Reads the TLV item that starts at `offset`. */
export function readTlv(buf: Uint8Array, offset = 0): Tlv {
  if (offset + 2 > buf.length) throw new DerError("truncated header");
  const tag = buf[offset];
  if ((tag & 0x1f) === 0x1f) throw new DerError("multi-byte tags are not supported");
  let len = buf[offset + 1];
  let pos = offset + 2;
  if (len & 0x80) {
    // Long form: the low 7 bits say how many length bytes follow.
    const n = len & 0x7f;
    if (n === 0) throw new DerError("indefinite length is not DER");
    if (n > 4) throw new DerError("length too large");
    if (pos + n > buf.length) throw new DerError("truncated length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[pos + i];
    pos += n;
  }
  if (pos + len > buf.length) throw new DerError("truncated value");
  return { tag, value: buf.subarray(pos, pos + len), end: pos + len };
}

/** Reads every TLV item inside a constructed value (e.g. a SEQUENCE's content). */
export function readChildren(content: Uint8Array): Tlv[] {
  const items: Tlv[] = [];
  for (let pos = 0; pos < content.length;) {
    const item = readTlv(content, pos);
    items.push(item);
    pos = item.end;
  }
  return items;
}

/** Reads a whole buffer that must be exactly one item with the given tag. */
export function readOne(buf: Uint8Array, tag: number, what: string): Tlv {
  const item = readTlv(buf);
  if (item.tag !== tag) throw new DerError(`${what}: expected tag 0x${hex(tag)}, got 0x${hex(item.tag)}`);
  if (item.end !== buf.length) throw new DerError(`${what}: trailing bytes`);
  return item;
}

/** Encodes one TLV item (definite length, short or long form). */
export function encodeTlv(tag: number, value: Uint8Array): Bytes {
  let header: number[];
  if (value.length < 0x80) {
    header = [tag, value.length];
  } else {
    const lenBytes: number[] = [];
    for (let n = value.length; n > 0; n = Math.floor(n / 256)) lenBytes.unshift(n & 0xff);
    header = [tag, 0x80 | lenBytes.length, ...lenBytes];
  }
  const out = new Uint8Array(header.length + value.length);
  out.set(header);
  out.set(value, header.length);
  return out;
}

/** Concatenates encoded items into one SEQUENCE. */
export function encodeSequence(...items: Uint8Array[]): Bytes {
  return encodeTlv(Tag.SEQUENCE, concat(items));
}

/** Decodes an OBJECT IDENTIFIER's content bytes to dotted text. */
export function decodeOid(value: Uint8Array): string {
  if (value.length === 0) throw new DerError("empty OID");
  const arcs: number[] = [];
  let n = 0;
  for (const b of value) {
    n = n * 128 + (b & 0x7f);
    if (!(b & 0x80)) {
      arcs.push(n);
      n = 0;
    }
  }
  // The first byte packs the first two arcs as 40 * a + b.
  const first = arcs[0] < 80 ? Math.floor(arcs[0] / 40) : 2;
  return [first, arcs[0] - first * 40, ...arcs.slice(1)].join(".");
}

/** Encodes dotted text as a complete OBJECT IDENTIFIER item. */
export function encodeOid(dotted: string): Bytes {
  const arcs = dotted.split(".").map(Number);
  const bytes: number[] = [];
  for (const arc of [arcs[0] * 40 + arcs[1], ...arcs.slice(2)]) {
    // Base-128, most significant group first, high bit set on all but the last.
    const groups = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) groups.unshift((v & 0x7f) | 0x80);
    bytes.push(...groups);
  }
  return encodeTlv(Tag.OID, new Uint8Array(bytes));
}

export const Oid = {
  rsaEncryption: "1.2.840.113549.1.1.1",
  ecPublicKey: "1.2.840.10045.2.1",
  prime256v1: "1.2.840.10045.3.1.7",
  secp384r1: "1.3.132.0.34",
  secp521r1: "1.3.132.0.35",
} as const;

/** WebCrypto curve names for the EC curve OIDs we accept. */
export const curveByOid: Record<string, "P-256" | "P-384" | "P-521"> = {
  [Oid.prime256v1]: "P-256",
  [Oid.secp384r1]: "P-384",
  [Oid.secp521r1]: "P-521",
};

// INTEGER 0, the version of a PrivateKeyInfo.
const VERSION_0 = encodeTlv(Tag.INTEGER, new Uint8Array([0]));

/**
 * PKCS#1 RSAPrivateKey → PKCS#8 PrivateKeyInfo:
 *   SEQUENCE { INTEGER 0, SEQUENCE { OID rsaEncryption, NULL }, OCTET STRING pkcs1 }
 */
export function pkcs1ToPkcs8(pkcs1: Uint8Array): Bytes {
  // Sanity-check that this really is an RSAPrivateKey: a SEQUENCE of 9 INTEGERs.
  const fields = readChildren(readOne(pkcs1, Tag.SEQUENCE, "RSAPrivateKey").value);
  if (fields.length < 9 || fields.some((f) => f.tag !== Tag.INTEGER)) {
    throw new DerError("RSAPrivateKey: expected a SEQUENCE of 9 INTEGERs");
  }
  const algorithm = encodeSequence(encodeOid(Oid.rsaEncryption), encodeTlv(Tag.NULL, new Uint8Array()));
  return encodeSequence(VERSION_0, algorithm, encodeTlv(Tag.OCTET_STRING, pkcs1));
}

/**
 * SEC1 ECPrivateKey → PKCS#8 PrivateKeyInfo:
 *   ECPrivateKey ::= SEQUENCE { INTEGER 1, OCTET STRING d, [0] curve OID OPTIONAL, [1] BIT STRING Q OPTIONAL }
 *   PrivateKeyInfo ::= SEQUENCE { INTEGER 0, SEQUENCE { OID ecPublicKey, OID curve }, OCTET STRING ecPrivateKey }
 * The curve comes from the key's own [0] field, or else from `curveOid`
 * (e.g. from a separate `EC PARAMETERS` PEM block).
 */
export function sec1ToPkcs8(sec1: Uint8Array, curveOid?: string): Bytes {
  const fields = readChildren(readOne(sec1, Tag.SEQUENCE, "ECPrivateKey").value);
  if (fields.length < 2 || fields[0].tag !== Tag.INTEGER || fields[1].tag !== Tag.OCTET_STRING) {
    throw new DerError("ECPrivateKey: expected SEQUENCE { INTEGER, OCTET STRING, ... }");
  }
  if (fields[0].value.length !== 1 || fields[0].value[0] !== 1) throw new DerError("ECPrivateKey: version is not 1");
  let curve = curveOid;
  const params = fields.find((f) => f.tag === Tag.CONTEXT_0);
  if (params) curve = decodeEcParameters(params.value);
  if (!curve) throw new DerError("ECPrivateKey: no curve (no [0] parameters and no EC PARAMETERS block)");
  if (!curveByOid[curve]) throw new DerError(`ECPrivateKey: unsupported curve ${curve}`);
  const algorithm = encodeSequence(encodeOid(Oid.ecPublicKey), encodeOid(curve));
  return encodeSequence(VERSION_0, algorithm, encodeTlv(Tag.OCTET_STRING, sec1));
}

/** ECParameters (a named-curve OID; explicit curve parameters are not supported) → dotted OID. */
export function decodeEcParameters(der: Uint8Array): string {
  const item = readTlv(der);
  if (item.tag !== Tag.OID) throw new DerError("EC parameters: only named curves are supported");
  return decodeOid(item.value);
}

/** What a PKCS#8 PrivateKeyInfo holds: enough to pick the WebCrypto import algorithm. */
export type Pkcs8KeyKind = { kind: "rsa" } | { kind: "ec"; curve: "P-256" | "P-384" | "P-521" };

/** Reads the AlgorithmIdentifier of a PKCS#8 PrivateKeyInfo. */
export function pkcs8KeyKind(pkcs8: Uint8Array): Pkcs8KeyKind {
  const fields = readChildren(readOne(pkcs8, Tag.SEQUENCE, "PrivateKeyInfo").value);
  if (fields.length < 3 || fields[1].tag !== Tag.SEQUENCE) throw new DerError("PrivateKeyInfo: malformed");
  const [alg, param] = readChildren(fields[1].value);
  if (!alg || alg.tag !== Tag.OID) throw new DerError("PrivateKeyInfo: malformed AlgorithmIdentifier");
  const oid = decodeOid(alg.value);
  if (oid === Oid.rsaEncryption) return { kind: "rsa" };
  if (oid === Oid.ecPublicKey) {
    const curve = param?.tag === Tag.OID ? curveByOid[decodeOid(param.value)] : undefined;
    if (!curve) throw new DerError("PrivateKeyInfo: unsupported or missing EC curve");
    return { kind: "ec", curve };
  }
  throw new DerError(`PrivateKeyInfo: unsupported key algorithm ${oid}`);
}

function concat(parts: Uint8Array[]): Bytes {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

function hex(n: number): string {
  return n.toString(16).padStart(2, "0");
}
