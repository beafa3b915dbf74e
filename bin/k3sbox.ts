#!/usr/bin/env node
// The `k3sbox` command of the npm package (dist/bin/k3sbox.js). npm links it
// under a node shebang; `bunx --bun k3sbox` and `deno run -A npm:k3sbox` run
// the same file with their own runtime.

const g = globalThis as { Bun?: unknown; Deno?: unknown };
const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
if (!g.Bun && !g.Deno && (major < 22 || (major === 22 && minor < 19))) {
  // Checked before anything loads: @kubernetes/client-node would fail obscurely on an older Node.
  process.stderr.write(
    `k3sbox needs Node >= 22.19 (this is ${process.version}); ` +
      "or run it with Bun (`bunx --bun k3sbox`) or Deno (`deno run -A npm:k3sbox`).\n",
  );
  process.exit(1);
}
const { main } = await import("../cli.ts");
process.exit(await main(process.argv.slice(2)));

export {}; // a module: top-level await
