// lib/docker/archive.ts: the archives behind copyInto. Read back two ways:
// tar-stream's own extractor, and GNU tar (a reader that is not the writer).

import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "../harness.ts";
import { archiveOf, ArchivePathError } from "../../lib/docker/archive.ts";
import { loadTarStream } from "../../deps.ts";
import { run } from "../../lib/proc.ts";

interface Read {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  type: string;
  body: Uint8Array;
}

async function readBack(archive: Uint8Array): Promise<Read[]> {
  const { extract } = await loadTarStream();
  const ex = extract();
  const out: Read[] = [];
  const done = new Promise<void>((resolve, reject) => {
    ex.on("entry", (h, stream, next) => {
      const chunks: Uint8Array[] = [];
      stream.on("data", (c: unknown) => chunks.push(c as Uint8Array));
      stream.on("end", () => {
        const body = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
        let at = 0;
        for (const c of chunks) (body.set(c, at), at += c.length);
        out.push({ name: h.name, mode: h.mode!, uid: h.uid!, gid: h.gid!, type: h.type!, body });
        next();
      });
      stream.resume();
    });
    ex.on("finish", resolve);
    ex.on("error", reject);
  });
  ex.end(archive);
  await done;
  return out;
}

test("archive: files with their modes, owned by root, leading / stripped, no directory entries", async () => {
  const key = "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n";
  const entries = await readBack(await archiveOf([
    { path: "/etc/rancher/k3s/registries.yaml", content: "mirrors: {}\n" },
    { path: "/etc/k3sbox/tls/key.pem", content: key, mode: 0o600 },
    { path: "usr/local/bin/start.sh", content: "#!/bin/sh\n", mode: 0o755 },
  ]));
  assert.deepEqual(entries.map((e) => [e.name, e.mode.toString(8), e.uid, e.gid, e.type]), [
    ["etc/rancher/k3s/registries.yaml", "644", 0, 0, "file"],
    ["etc/k3sbox/tls/key.pem", "600", 0, 0, "file"],
    ["usr/local/bin/start.sh", "755", 0, 0, "file"],
  ]);
  assert.equal(new TextDecoder().decode(entries[1].body), key);
});

test("archive: binary content byte for byte; long and UTF-8 paths; an empty archive", async () => {
  const bytes = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 31) & 0xff);
  const long = "d".repeat(150) + "/" + "é".repeat(80) + "/" + "f".repeat(120); // > 256 bytes, a name part > 100
  const entries = await readBack(await archiveOf([{ path: "bin/blob", content: bytes }, { path: long, content: "x" }]));
  assert.deepEqual(Array.from(entries[0].body), Array.from(bytes));
  assert.equal(entries[1].name, long);
  assert.deepEqual(await readBack(await archiveOf([])), []);
});

test("archive: GNU tar lists and extracts it with the same names, modes and content", async () => {
  const dir = await mkdtemp(join(tmpdir(), "k3sbox-archive-"));
  try {
    const long = "p".repeat(120) + "/" + "n".repeat(110);
    await writeFile(join(dir, "a.tar"), await archiveOf([{ path: "/etc/x.conf", content: "x=1\n" }, { path: long, content: "deep", mode: 0o640 }]));
    const list = await run("tar", ["-tvf", join(dir, "a.tar")]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^-rw-r--r-- root\/root +4 .* etc\/x\.conf$/m);
    assert.match(list.stdout, new RegExp(`^-rw-r----- root/root +4 .* ${long}$`, "m"));
    const x = await run("tar", ["-xf", join(dir, "a.tar"), "-C", dir]);
    assert.equal(x.code, 0, x.stderr);
    assert.equal((await run("cat", [join(dir, long)])).stdout, "deep");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("archive: refuses `..`, `.`, empty segments, empty paths, NUL, duplicates and impossible modes, naming the path", async () => {
  const cases: [string, RegExp][] = [
    ["../etc/passwd", /`\.\.` segment/],
    ["/etc/../../root/x", /`\.\.` segment/],
    ["a/..", /`\.\.` segment/],
    ["./a", /`\.` segment/],
    ["a//b", /empty segment/],
    ["a/b/", /empty segment/],
    ["", /is empty/],
    ["/", /is empty/],
    ["a\0b", /NUL/],
  ];
  for (const [path, reason] of cases) {
    await assert.rejects(archiveOf([{ path, content: "x" }]), (err: unknown) => {
      assert.ok(err instanceof ArchivePathError, `${JSON.stringify(path)} throws ArchivePathError`);
      assert.match(err.message, reason);
      assert.ok(err.message.startsWith(`archive: ${JSON.stringify(path)}:`), err.message);
      return true;
    });
  }
  // `..` inside a name is just a name.
  assert.equal((await readBack(await archiveOf([{ path: "a/..b/c..", content: "" }])))[0].name, "a/..b/c..");
  await assert.rejects(archiveOf([{ path: "/a", content: "1" }, { path: "a", content: "2" }]), /appears twice/);
  for (const mode of [0o10000, -1, 1.5]) await assert.rejects(archiveOf([{ path: "a", content: "", mode }]), /mode/);
});
