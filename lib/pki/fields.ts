// Certificate fields every certificate here sets the same way: a random
// serial, a validity window backdated against clock skew, a checked CN.

import { toHex } from "../bytes.ts";
import { webcrypto } from "./x509.ts";

export const DAY_MS = 86_400_000;
/** Certificates start this far in the past, so small clock skew between hosts and containers does no harm. */
export const BACKDATE_MS = 5 * 60_000;
export const CN_MAX = 64; // ub-common-name, RFC 5280

export function checkCommonName(cn: string): string {
  if (typeof cn !== "string" || cn.length === 0 || cn.length > CN_MAX) {
    throw new Error(`invalid commonName ${JSON.stringify(cn)}: must be 1-${CN_MAX} characters`);
  }
  return cn;
}

export function checkValidity(days: number): number {
  if (typeof days !== "number" || !Number.isFinite(days) || days <= 0) {
    throw new Error(`invalid validityDays ${JSON.stringify(days)}: must be a positive number`);
  }
  return days;
}

/** 16 random bytes, high bit clear (positive) and next bit set (no leading zero byte): always 16 bytes. */
export function randomSerial(): string {
  const b = webcrypto.getRandomValues(new Uint8Array(16));
  b[0] = (b[0] & 0x7f) | 0x40;
  return toHex(b);
}

/** Certificates carry whole seconds; truncating up front keeps notBefore/notAfter predictable. */
export function wholeSeconds(ms: number): Date {
  return new Date(Math.floor(ms / 1000) * 1000);
}
