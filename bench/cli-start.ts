// What a CLI command that talks to no API server costs: `k3sbox list` (the
// npm build's bin, dist/bin/k3sbox.js) under Bun, Deno and Node, side by side
// with the raw approach, the one `docker ps` it runs. Wall time and CPU time
// (user + system, from /usr/bin/time) of fresh processes, median of N,
// alternating.
//
//   bash scripts/build.sh && bun bench/cli-start.ts [samples]
//
// The Kubernetes client loads only when a command builds one (deps.ts), so
// `list`, `down`, `prune` and usage errors do not pay for it.

import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { run } from "../lib/exec.ts";

const N = Number(process.argv[2] ?? 9);
const root = fileURLToPath(new URL("..", import.meta.url));
const bin = `${root}dist/bin/k3sbox.js`;
if (!existsSync(bin)) throw new Error("dist/bin/k3sbox.js is missing: run `bash scripts/build.sh` first");

const commands: Record<string, string[]> = {
  "k3sbox list (bun)": [`${root}node_modules/.bin/bun`, bin, "list"],
  "k3sbox list (deno)": [`${root}node_modules/.bin/deno`, "run", "-A", bin, "list"],
  "k3sbox list (node)": [`${root}node_modules/.bin/node`, bin, "list"],
  "docker ps (raw)": ["docker", "ps", "--all", "--filter", "label=k3sbox.reuse", "--format", "{{.ID}}"],
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

/** One run under /usr/bin/time: wall ms and CPU ms. */
async function sample(argv: string[]): Promise<{ wall: number; cpu: number }> {
  const t0 = performance.now();
  const r = await run("/usr/bin/time", ["-f", "CPU %U %S", ...argv], { timeoutMs: 60_000 });
  const wall = performance.now() - t0;
  const m = /CPU ([\d.]+) ([\d.]+)\s*$/.exec(r.stderr);
  if (r.code !== 0 || !m) throw new Error(`${argv.join(" ")}: exit ${r.code}\n${r.stderr}`);
  return { wall, cpu: (Number(m[1]) + Number(m[2])) * 1000 };
}

const results: Record<string, { wall: number[]; cpu: number[] }> = {};
for (const [name, argv] of Object.entries(commands)) {
  results[name] = { wall: [], cpu: [] };
  await sample(argv); // warm the OS file cache and Deno's module cache
}
for (let i = 0; i < N; i++) {
  const names = Object.keys(commands);
  for (const name of i % 2 ? names.reverse() : names) {
    const s = await sample(commands[name]!);
    results[name]!.wall.push(s.wall);
    results[name]!.cpu.push(s.cpu);
  }
}

const raw = results["docker ps (raw)"]!;
console.log(`CLI start, median of ${N} fresh processes each`);
console.log(`${"command".padEnd(22)}${"wall".padStart(9)}${"cpu".padStart(9)}${"wall vs raw".padStart(13)}`);
for (const [name, r] of Object.entries(results)) {
  const wall = median(r.wall);
  console.log(
    `${name.padEnd(22)}${`${wall.toFixed(0)} ms`.padStart(9)}${`${median(r.cpu).toFixed(0)} ms`.padStart(9)}${`${(wall / median(raw.wall)).toFixed(2)}x`.padStart(13)}`,
  );
}
