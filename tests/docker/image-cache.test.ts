// lib/images/cache.ts against the real engine: images saved once into
// volumes on the daemon, found there again, usable when the daemon itself no
// longer has them, and a pull that cannot succeed (a closed port, a registry
// answering 429 like Docker Hub's rate limit) reported as itself within
// seconds. Each case uses references of its own and removes its volumes.

import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { test } from "../harness.ts";
import { docker, dockerResult } from "../../lib/docker.ts";
import { listVolumes, removeVolumes } from "../../lib/docker/volumes.ts";
import { cacheVolumeName, ImageSupplyError, LABEL_IMAGE_REF, listCache, saveToCache, supplyImages } from "../../lib/images/cache.ts";
import { ensureBusyboxImage } from "../support/images.ts";

const run = `${process.pid}-${Date.now().toString(36)}`;

/** A fresh tag of the busybox test image (its own reference, so its own cache entry). */
async function freshImage(name: string): Promise<string> {
  const base = await ensureBusyboxImage();
  const ref = `k3sbox-cache-test/${name}:${run}`;
  await docker(["tag", base, ref]);
  return ref;
}

async function dropFromCache(ref: string): Promise<void> {
  const vols = await listVolumes([`${LABEL_IMAGE_REF}=${ref}`]);
  await removeVolumes(vols.map((v) => v.name));
}

/** Reads a cached volume's files through a helper container. */
async function volumeFiles(volume: string, helper: string): Promise<string> {
  return await docker(["run", "--rm", "--network", "none", "--mount", `type=volume,source=${volume},target=/c,readonly`, "--entrypoint", "/bin/sh", helper, "-c", "ls /c; cat /c/ref; tar -tf /c/image.tar | grep -c . "]);
}

test("an image on the daemon is saved into the cache once, then found there; the daemon may drop it afterwards", async () => {
  const helper = await ensureBusyboxImage();
  const ref = await freshImage("a");
  try {
    const first = await supplyImages([ref], { helperImage: helper });
    assert.equal(first.length, 1);
    assert.equal(first[0].source, "daemon");
    const id = (await docker(["image", "inspect", "--format", "{{.Id}}", ref])).trim();
    assert.equal(first[0].id, id);
    assert.equal(first[0].volume, cacheVolumeName(ref, id));
    const files = await volumeFiles(first[0].volume, helper);
    assert.match(files, /^image\.tar\nref\n/, files); // no temporary file left behind
    assert.ok(files.includes(`${ref}\n`));
    assert.ok((await listCache()).some((c) => c.ref === ref && c.id === id));

    const second = await supplyImages([ref, ref], { helperImage: helper });
    assert.deepEqual(second.map((s) => s.source), ["cache"]);

    await docker(["rmi", ref]);
    const third = await supplyImages([ref], { helperImage: helper });
    assert.equal(third[0].source, "cache");
    assert.equal(third[0].onDaemon, false, "Docker no longer has it: it comes out of the volume");
    assert.equal(second[0].onDaemon, true);
    assert.equal(third[0].volume, first[0].volume);
  } finally {
    await dockerResult(["rmi", ref]);
    await dropFromCache(ref);
  }
}, { timeoutMs: 60_000 });

test("a tag that moved to another image is saved again (the daemon's image wins)", async () => {
  const helper = await ensureBusyboxImage();
  const ref = await freshImage("moved");
  try {
    const before = await supplyImages([ref], { helperImage: helper });
    // Same content, new id: a label changes the image config.
    await docker(["build", "-t", ref, "--label", `moved=${run}`, "-"], { stdin: `FROM ${ref}\n` });
    const after = await supplyImages([ref], { helperImage: helper });
    assert.equal(after[0].source, "daemon");
    assert.notEqual(after[0].id, before[0].id);
    assert.notEqual(after[0].volume, before[0].volume);
  } finally {
    await dockerResult(["rmi", ref]);
    await dropFromCache(ref);
  }
}, { timeoutMs: 60_000 });

test("an image nobody has fails at once, naming the image and Docker's reason", async () => {
  const helper = await ensureBusyboxImage();
  // Port 9 (discard) on loopback: nothing listens, the pull is refused at once.
  const ref = `127.0.0.1:9/k3sbox-cache-test/missing:${run}`;
  const t0 = performance.now();
  await assert.rejects(supplyImages([ref], { helperImage: helper }), (err: Error) => {
    assert.ok(err instanceof ImageSupplyError, String(err));
    assert.match(err.message, new RegExp(`image ${ref.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} is not in k3sbox's image cache nor in Docker`));
    assert.match(err.message, /connection refused|connect:/i);
    return true;
  });
  assert.ok(performance.now() - t0 < 10_000, `took ${Math.round(performance.now() - t0)} ms`);
  assert.equal((await listVolumes([`${LABEL_IMAGE_REF}=${ref}`])).length, 0, "no cache entry for an image that was never had");
});

/** A stand-in for Docker Hub over its limit: every request gets its 429 and error body. */
async function rateLimitedRegistry(): Promise<{ port: number; requests: () => number; close: () => Promise<void> }> {
  let count = 0;
  const server: Server = createServer((_req, res) => {
    count++;
    res.writeHead(429, { "content-type": "application/json" });
    res.end(JSON.stringify({
      errors: [{ code: "TOOMANYREQUESTS", message: "You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit" }],
    }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  return { port, requests: () => count, close: () => new Promise((r) => server.close(() => r())) };
}

test("a registry answering 429 (the rate limit): an uncached image fails within seconds naming the 429 and the remedy; a cached one is still supplied", async () => {
  const helper = await ensureBusyboxImage();
  const limited = await rateLimitedRegistry();
  const cachedRef = `127.0.0.1:${limited.port}/k3sbox-cache-test/cached:${run}`;
  const uncachedRef = `127.0.0.1:${limited.port}/k3sbox-cache-test/uncached:${run}`;
  try {
    // Cached earlier (here: tagged locally and saved), then gone from the daemon.
    await docker(["tag", helper, cachedRef]);
    assert.equal((await supplyImages([cachedRef], { helperImage: helper }))[0].source, "daemon");
    await docker(["rmi", cachedRef]);

    const ok = await supplyImages([cachedRef], { helperImage: helper });
    assert.equal(ok[0].source, "cache");
    assert.equal(limited.requests(), 0, "a cached image asks no registry");

    const t0 = performance.now();
    await assert.rejects(supplyImages([uncachedRef], { helperImage: helper }), (err: Error) => {
      assert.ok(err instanceof ImageSupplyError, String(err));
      assert.match(err.message, /toomanyrequests|429|rate limit/i);
      assert.match(err.message, /docker login/);
      return true;
    });
    assert.ok(performance.now() - t0 < 10_000, `took ${Math.round(performance.now() - t0)} ms`);
    assert.ok(limited.requests() > 0, "the daemon asked the stand-in registry");
  } finally {
    await limited.close();
    await dockerResult(["rmi", cachedRef]);
    await dropFromCache(cachedRef);
  }
}, { timeoutMs: 60_000 });

test("a save that fails (docker save exits non-zero) leaves no cache entry behind", async () => {
  const helper = await ensureBusyboxImage();
  const ref = `k3sbox-cache-test/absent:${run}`;
  await assert.rejects(saveToCache(ref, "sha256:0000", helper), /saving k3sbox-cache-test\/absent:.* into volume k3sbox-image-[0-9a-f]+ failed/);
  assert.equal((await listVolumes([`${LABEL_IMAGE_REF}=${ref}`])).length, 0);
});
