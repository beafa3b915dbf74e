// Leaf-certificate minting speed: lib/pki.ts (in-process WebCrypto) against
// the reference approach of spawning openssl once per leaf.
//
//   bun bench/pki.ts                 deno run -A bench/pki.ts
//   options: --ecdsa N (50)  --rsa N (20)  --openssl N (10)
//
// Target: an ECDSA leaf at least 30x faster than one reference openssl
// spawn. Prints PASS/MISS but always exits 0: a benchmark, not a test.
// The openssl runs need ca.pem/ca.key on disk; they go in a private temp
// directory (files 0600) that is removed at the end.

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { generateCa, issueLeaf, type KeyAlgorithm } from "../lib/pki.ts";
import { run } from "../lib/exec.ts";
import { runtime } from "../lib/runtime.ts";

const TARGET_RATIO = 30;

function option(name: string, fallback: number): number {
  const args = process.argv.slice(2);
  const i = args.indexOf(`--${name}`);
  const n = i >= 0 ? Number(args[i + 1]) : fallback;
  if (!Number.isInteger(n) || n < 1) {
    console.error(`--${name} wants a positive integer`);
    process.exit(2);
  }
  return n;
}

function runtimeVersion(): string {
  // deno-lint-ignore no-explicit-any
  const g = globalThis as any;
  if (runtime === "bun") return `bun ${g.Bun.version}`;
  if (runtime === "deno") return `deno ${g.Deno.version.deno}`;
  return `node ${process.version}`;
}

interface Row {
  name: string;
  samples: number[];
  note?: string;
}

async function timeEach(n: number, fn: (i: number) => Promise<unknown>): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn(i);
    samples.push(performance.now() - t0);
  }
  return samples;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
const fmt = (ms: number) => ms.toFixed(ms < 10 ? 2 : 1);

async function main(): Promise<void> {
  const nEcdsa = option("ecdsa", 50);
  const nRsa = option("rsa", 20);
  const nOpenssl = option("openssl", 10);
  const opensslVersion = await run("openssl", ["version"], { timeoutMs: 10_000 })
    .then((r) => (r.code === 0 ? r.stdout.trim() : undefined), () => undefined);

  console.log(`k3sbox pki bench — runtime: ${runtimeVersion()} (${runtime}); ${opensslVersion ?? "openssl: not found"}`);

  const ca = await generateCa({ commonName: "k3sbox bench CA" });
  const names = ["*.example.test"];
  // Warm up both key types (JIT, WebCrypto initialisation).
  for (const [algorithm, n] of [["ecdsa-p256", 10], ["rsa-2048", 2]] as [KeyAlgorithm, number][]) {
    for (let i = 0; i < n; i++) await issueLeaf(ca, { names, algorithm });
  }

  const rows: Row[] = [];
  rows.push({
    name: "k3sbox issueLeaf ECDSA P-256",
    samples: await timeEach(nEcdsa, () => issueLeaf(ca, { names, algorithm: "ecdsa-p256" })),
  });
  rows.push({
    name: "k3sbox issueLeaf RSA 2048",
    samples: await timeEach(nRsa, () => issueLeaf(ca, { names, algorithm: "rsa-2048" })),
  });

  let reference: Row | undefined;
  if (opensslVersion) {
    const dir = await mkdtemp(join(tmpdir(), "k3sbox-pki-bench-"));
    try {
      const caPem = join(dir, "ca.pem");
      const caKey = join(dir, "ca.key");
      await writeFile(caPem, ca.certPem, { mode: 0o600 });
      await writeFile(caKey, await ca.keyPem(), { mode: 0o600 });
      const spawn = (newkey: string[]) => async (i: number) => {
        const r = await run("openssl", [
          "req", ...newkey, "-nodes", "-keyout", join(dir, `leaf${i}.key`),
          "-x509", "-CA", caPem, "-CAkey", caKey, "-days", "3650", "-subj", "/CN=x",
          "-addext", "subjectAltName=DNS:*.example.test", "-out", join(dir, `leaf${i}.pem`),
        ], { timeoutMs: 60_000 });
        if (r.code !== 0) throw new Error(`openssl req failed (${r.code}): ${r.stderr}`);
      };
      reference = {
        name: "openssl req spawn, RSA 2048 (reference)",
        samples: await timeEach(nOpenssl, spawn(["-newkey", "rsa:2048"])),
      };
      rows.push(reference);
      rows.push({
        name: "openssl req spawn, EC P-256",
        samples: await timeEach(nOpenssl, spawn(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"])),
        note: "like-for-like key type, for context",
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  // Table.
  const header = ["approach", "n", "mean ms/leaf", "median", "p90", "min", "ratio vs k3sbox ECDSA"];
  const ecdsaMean = mean(rows[0].samples);
  const body = rows.map((r) => [
    r.name + (r.note ? ` (${r.note})` : ""),
    String(r.samples.length),
    fmt(mean(r.samples)),
    fmt(quantile(r.samples, 0.5)),
    fmt(quantile(r.samples, 0.9)),
    fmt(Math.min(...r.samples)),
    `${(mean(r.samples) / ecdsaMean).toFixed(1)}x`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  console.log();
  console.log(line(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const row of body) console.log(line(row));
  console.log();

  if (!reference) {
    console.log("MISS (not measured): openssl is not on PATH, so there is no reference to compare with");
    return;
  }
  const ratioEcdsa = mean(reference.samples) / ecdsaMean;
  const ratioRsa = mean(reference.samples) / mean(rows[1].samples);
  console.log(`ratio (openssl reference ms / k3sbox ms): ECDSA ${ratioEcdsa.toFixed(1)}x, RSA ${ratioRsa.toFixed(1)}x`);
  console.log(
    `${ratioEcdsa >= TARGET_RATIO ? "PASS" : "MISS"}: ECDSA leaf ${ratioEcdsa.toFixed(1)}x faster than an openssl spawn ` +
      `(target >= ${TARGET_RATIO}x) on ${runtimeVersion()}`,
  );
}

try {
  await main();
} catch (err) {
  // Still a benchmark: report, don't fail the caller.
  console.error(`bench failed: ${(err as Error).stack ?? err}`);
}
