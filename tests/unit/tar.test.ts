// lib/tar.ts: the ustar writer behind copyInto. Pure: reads the bytes back.

import assert from "node:assert/strict";
import { test } from "../harness.ts";
import { tar, TarPathError } from "../../lib/tar.ts";

const dec = new TextDecoder();
const enc = new TextEncoder();
const MTIME = new Date("2024-05-06T07:08:09Z");

/** A NUL-terminated text field. */
function field(h: Uint8Array, offset: number, width: number): string {
  const bytes = h.subarray(offset, offset + width);
  const end = bytes.indexOf(0);
  return dec.decode(end === -1 ? bytes : bytes.subarray(0, end));
}

const octal = (h: Uint8Array, offset: number, width: number) => parseInt(field(h, offset, width).trim(), 8);

interface Parsed {
  name: string;
  prefix: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  checksum: number;
  typeflag: string;
  magic: string;
  version: string;
  body: Uint8Array;
  offset: number;
}

/** Walks the archive the way a reader does, checking structure on the way. */
function parse(archive: Uint8Array): Parsed[] {
  assert.equal(archive.length % 512, 0, "archive length is a multiple of 512");
  const out: Parsed[] = [];
  let at = 0;
  for (;;) {
    const h = archive.subarray(at, at + 512);
    if (h.every((b) => b === 0)) break;
    const size = octal(h, 124, 12);
    out.push({
      name: field(h, 0, 100),
      prefix: field(h, 345, 155),
      mode: octal(h, 100, 8),
      uid: octal(h, 108, 8),
      gid: octal(h, 116, 8),
      size,
      mtime: octal(h, 136, 12),
      checksum: octal(h, 148, 8),
      typeflag: String.fromCharCode(h[156]),
      magic: dec.decode(h.subarray(257, 263)),
      version: dec.decode(h.subarray(263, 265)),
      body: archive.subarray(at + 512, at + 512 + size),
      offset: at,
    });
    at += 512 + Math.ceil(size / 512) * 512;
  }
  assert.equal(archive.length - at, 1024, "two zero blocks end the archive");
  assert.ok(archive.subarray(at).every((b) => b === 0));
  return out;
}

function expectedChecksum(header: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i];
  return sum;
}

test("tar: header fields of a short absolute path", () => {
  const archive = tar([{ path: "/etc/rancher/k3s/registries.yaml", content: "mirrors: {}\n" }], { mtime: MTIME });
  const [e] = parse(archive);
  assert.equal(e.name, "etc/rancher/k3s/registries.yaml", "leading / stripped");
  assert.equal(e.prefix, "");
  assert.equal(e.mode, 0o644, "default mode");
  assert.equal(e.uid, 0);
  assert.equal(e.gid, 0);
  assert.equal(e.size, 12);
  assert.equal(e.mtime, MTIME.getTime() / 1000);
  assert.equal(e.typeflag, "0");
  assert.equal(e.magic, "ustar\0");
  assert.equal(e.version, "00");
  const h = archive.subarray(0, 512);
  assert.equal(field(h, 100, 8), "0000644", "mode is 7 octal digits + NUL");
  assert.equal(h[107], 0);
  assert.equal(field(h, 124, 12), "00000000014", "size is 11 octal digits + NUL");
  assert.equal(field(h, 265, 32), "root");
  assert.equal(field(h, 297, 32), "root");
  assert.equal(dec.decode(e.body), "mirrors: {}\n");
});

test("tar: checksum is the byte sum with the checksum field as spaces", () => {
  const archive = tar([
    { path: "a.txt", content: "x" },
    { path: "/keys/sa.key", content: "secret", mode: 0o600 },
  ]);
  for (const e of parse(archive)) {
    const h = archive.subarray(e.offset, e.offset + 512);
    assert.equal(e.checksum, expectedChecksum(h), `checksum of ${e.name}`);
    assert.equal(h[154], 0, "checksum: six digits then NUL");
    assert.equal(h[155], 0x20, "then a space");
  }
});

test("tar: mode is written in octal (0600 keys, 0755 scripts)", () => {
  const entries = parse(tar([
    { path: "k", content: "", mode: 0o600 },
    { path: "s", content: "", mode: 0o755 },
    { path: "t", content: "", mode: 0o1777 },
  ]));
  assert.deepEqual(entries.map((e) => e.mode), [0o600, 0o755, 0o1777]);
});

test("tar: content is padded to 512-byte blocks", () => {
  const sizes = [0, 1, 511, 512, 513, 1500];
  const archive = tar(sizes.map((n, i) => ({ path: `f${i}`, content: new Uint8Array(n).fill(0x41 + i) })));
  const entries = parse(archive);
  assert.deepEqual(entries.map((e) => e.size), sizes);
  const blocks = sizes.reduce((n, s) => n + 1 + Math.ceil(s / 512), 0);
  assert.equal(archive.length, (blocks + 2) * 512);
  for (const [i, e] of entries.entries()) {
    assert.ok(e.body.every((b) => b === 0x41 + i), `body of ${e.name}`);
    const padEnd = e.offset + 512 + Math.ceil(e.size / 512) * 512;
    assert.ok(archive.subarray(e.offset + 512 + e.size, padEnd).every((b) => b === 0), `padding of ${e.name} is zero`);
  }
});

test("tar: an empty archive is just the two end blocks", () => {
  const archive = tar([]);
  assert.equal(archive.length, 1024);
  assert.ok(archive.every((b) => b === 0));
});

test("tar: binary content is kept byte for byte", () => {
  const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
  const [e] = parse(tar([{ path: "bin", content: bytes }]));
  assert.deepEqual([...e.body], [...bytes]);
});

test("tar: paths over 100 bytes use the ustar prefix field", () => {
  const dir = "var/lib/rancher/k3s/server/manifests/" + "d".repeat(80);
  const file = "f".repeat(60) + ".yaml";
  const [e] = parse(tar([{ path: `/${dir}/${file}`, content: "x" }]));
  assert.equal(e.prefix, dir);
  assert.equal(e.name, file);
  assert.equal(`${e.prefix}/${e.name}`, `${dir}/${file}`);
});

test("tar: exactly 100 bytes fits the name field alone", () => {
  const path = "a/" + "b".repeat(98);
  const [e] = parse(tar([{ path, content: "" }]));
  assert.equal(e.name, path);
  assert.equal(e.prefix, "");
});

test("tar: the longest prefix that fits is chosen, up to 155 + 1 + 100 bytes", () => {
  const prefix = ["p".repeat(50), "q".repeat(50), "r".repeat(54)].join("/"); // 156 bytes
  assert.equal(prefix.length, 156);
  // 156 is one too many for the prefix field, so the split moves one segment left.
  const [e] = parse(tar([{ path: `${prefix}/${"n".repeat(40)}`, content: "" }]));
  assert.equal(e.prefix, "p".repeat(50) + "/" + "q".repeat(50));
  assert.equal(e.name, "r".repeat(54) + "/" + "n".repeat(40));
  const max = "p".repeat(155) + "/" + "n".repeat(100);
  assert.equal(max.length, 256);
  const [m] = parse(tar([{ path: max, content: "" }]));
  assert.equal(m.prefix.length, 155);
  assert.equal(m.name.length, 100);
});

test("tar: lengths are counted in UTF-8 bytes", () => {
  const path = "é".repeat(60); // 60 characters, 120 bytes, no slash to split at
  assert.throws(() => tar([{ path, content: "" }]), TarPathError);
  // 71 characters but 141 bytes: it must be split although it has < 100 characters.
  const [e] = parse(tar([{ path: `${"ü".repeat(30)}/${"é".repeat(40)}`, content: "" }]));
  assert.equal(e.prefix, "ü".repeat(30));
  assert.equal(e.name, "é".repeat(40));
  assert.equal(enc.encode(e.name).length, 80);
});

test("tar: rejects paths longer than 256 bytes, naming the path", () => {
  const path = "/" + "d".repeat(150) + "/" + "e".repeat(80) + "/" + "f".repeat(30);
  assert.throws(() => tar([{ path, content: "" }]), (err: unknown) => {
    assert.ok(err instanceof TarPathError);
    assert.equal(err.path, path);
    assert.ok(err.message.includes(path), err.message);
    assert.match(err.message, /at most 256/);
    return true;
  });
});

test("tar: rejects a file name part over 100 bytes", () => {
  const path = "etc/" + "x".repeat(101);
  assert.throws(() => tar([{ path, content: "" }]), (err: unknown) => {
    assert.ok(err instanceof TarPathError);
    assert.ok(err.message.includes(path), err.message);
    assert.match(err.message, /name part is longer than 100 bytes/);
    return true;
  });
});

test("tar: rejects a path whose directories cannot fit the 155-byte prefix", () => {
  const path = "d".repeat(160) + "/f"; // the only split point leaves a 160-byte prefix
  assert.throws(() => tar([{ path, content: "" }]), /cannot be split into a ustar prefix/);
});

test("tar: rejects `..`, `.`, empty segments and empty paths", () => {
  const cases: [string, RegExp][] = [
    ["../etc/passwd", /`\.\.` segment/],
    ["/etc/../../root/x", /`\.\.` segment/],
    ["a/..", /`\.\.` segment/],
    ["./a", /`\.` segment/],
    ["a//b", /empty segment/],
    ["a/b/", /empty segment/],
    ["", /is empty/],
    ["/", /is empty/],
    ["///", /is empty/],
    ["a\0b", /NUL/],
  ];
  for (const [path, reason] of cases) {
    assert.throws(() => tar([{ path, content: "x" }]), (err: unknown) => {
      assert.ok(err instanceof TarPathError, `${JSON.stringify(path)} throws TarPathError`);
      assert.match(err.message, reason);
      assert.ok(err.message.startsWith(`tar: ${JSON.stringify(path)}:`), err.message);
      return true;
    });
  }
  // `..` inside a name is just a name.
  assert.equal(parse(tar([{ path: "a/..b/c..", content: "" }]))[0].name, "a/..b/c..");
});

test("tar: rejects duplicate paths and impossible modes", () => {
  assert.throws(() => tar([{ path: "/a", content: "1" }, { path: "a", content: "2" }]), /appears twice/);
  assert.throws(() => tar([{ path: "a", content: "", mode: 0o10000 }]), /mode/);
  assert.throws(() => tar([{ path: "a", content: "", mode: -1 }]), /mode/);
  assert.throws(() => tar([{ path: "a", content: "", mode: 1.5 }]), /mode/);
});
