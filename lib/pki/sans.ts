// Subject alternative names: DNS names (wildcards as a whole leftmost label)
// and IPv4/IPv6 literals, checked and put in the one form the SAN encoder
// gets; and the CN a leaf takes from them by default.

import { isDnsLabel } from "../names.ts";
import { CN_MAX } from "./fields.ts";

export type San = { type: "dns" | "ip"; value: string };

/** Validates and classifies SAN names; lower-cases DNS names, canonicalises IPs, drops duplicates. */
export function parseNames(names: unknown): San[] {
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

export function defaultCommonName(sans: San[]): string {
  const first = sans.find((s) => s.type === "dns") ?? sans[0];
  return first && first.value.length <= CN_MAX ? first.value : "k3sbox leaf";
}
