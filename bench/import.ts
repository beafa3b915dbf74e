// Cold import cost of the npm build, side by side with its floor.
//
//   bun bench/import.ts [samples]      (or: deno run -A bench/import.ts)
//
// For Bun, Deno and Node (24, from node_modules): a fresh process per sample
// times `await import(...)` of the package entry (dist/mod.js, built by
// scripts/build.sh) against `@kubernetes/client-node` alone, which k3sbox
// cannot load faster than. Alternating, median of N per pair.
// Target: k3sbox ≤ 1.3x the floor.

import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { run } from "../lib/exec.ts";

const N = Number(process.argv[2] ?? 9);
const root = fileURLToPath(new URL("..", import.meta.url));
const probe = fileURLToPath(new URL("./import-probe.ts", import.meta.url));
const entry = new URL("../dist/mod.js", import.meta.url).href;
if (!existsSync(fileURLToPath(entry))) throw new Error("dist/mod.js is missing: run `bash scripts/build.sh` first");

const runtimes: Record<string, string[]> = {
  bun: [`${root}node_modules/.bin/bun`, "run", probe],
  deno: [`${root}node_modules/.bin/deno`, "run", "-A", probe],
  node: [`${root}node_modules/.bin/node`, probe],
};
const targets = { k3sbox: entry, "client-node": "@kubernetes/client-node" };

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function sample(argv: string[], target: string): Promise<number> {
  const [cmd = "", ...args] = argv;
  const r = await run(cmd, [...args, target], { cwd: root, timeoutMs: 60_000 });
  const line = r.stdout.trim().split("\n").at(-1) ?? "";
  if (r.code !== 0 || !line.startsWith("{")) throw new Error(`${cmd} ${target}: exit ${r.code}\n${r.stderr}`);
  return (JSON.parse(line) as { ms: number }).ms;
}

console.log(`cold import, median of ${N} fresh processes each`);
console.log(`${"runtime".padEnd(8)}${"k3sbox".padStart(10)}${"client-node".padStart(13)}${"ratio".padStart(8)}`);
for (const [name, argv] of Object.entries(runtimes)) {
  const times: Record<string, number[]> = { k3sbox: [], "client-node": [] };
  await sample(argv, targets.k3sbox); // warm the OS file cache and Deno's module cache, not the process
  for (let i = 0; i < N; i++) {
    const order = i % 2 ? (["k3sbox", "client-node"] as const) : (["client-node", "k3sbox"] as const);
    for (const t of order) times[t]!.push(await sample(argv, targets[t]));
  }
  const ours = median(times.k3sbox!);
  const floor = median(times["client-node"]!);
  console.log(
    `${name.padEnd(8)}${`${ours.toFixed(0)} ms`.padStart(10)}${`${floor.toFixed(0)} ms`.padStart(13)}${`${(ours / floor).toFixed(2)}x`.padStart(8)}`,
  );
}
console.log("target: ≤ 1.30x");
