// The heavy third-party packages load on first use, not at import: a CLI
// command that talks to no API server (a usage error, `down`, `list`,
// `prune`) and a process that only runs containers never pay for
// @kubernetes/client-node or @peculiar/x509. Two things keep that true:
// deps.ts imports them only dynamically, and mod.ts has no top-level await
// (it once awaited the client for PatchStrategy and setHeaderOptions).
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "../harness.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const withoutComments = (source: string) => source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");

/** The import/export statements of a module that load something at run time (`import type`/`export type` do not). */
function valueImports(source: string): { statement: string; from: string }[] {
  const out: { statement: string; from: string }[] = [];
  for (const m of withoutComments(source).matchAll(/^(?:import|export)\b[^;]*?(?:from\s+)?"([^"]+)";/gms)) {
    const statement = m[0].replace(/\s+/g, " ");
    if (/^(?:import|export) type\b/.test(statement)) continue;
    if (/^export (?:const|let|function|class|async|interface|default)\b/.test(statement)) continue;
    out.push({ statement, from: m[1]! });
  }
  return out;
}

/** Every module reached from `entry` through static value imports of relative paths. */
async function staticGraph(entry: string): Promise<Set<string>> {
  const seen = new Set<string>();
  const queue = [entry];
  for (let file = queue.shift(); file; file = queue.shift()) {
    if (seen.has(file)) continue;
    seen.add(file);
    for (const { from } of valueImports(await readFile(join(root, file), "utf8"))) {
      if (from.startsWith(".")) queue.push(relative(root, join(root, dirname(file), from)));
    }
  }
  return seen;
}

test("deps.ts loads @kubernetes/client-node, @peculiar/x509 and reflect-metadata only on demand (no static value import or export)", async () => {
  const heavy = ["@kubernetes/client-node", "@peculiar/x509", "reflect-metadata"];
  const imports = valueImports(await readFile(join(root, "deps.ts"), "utf8"));
  assert.deepEqual(imports.filter((i) => heavy.includes(i.from)).map((i) => i.statement), []);
  // The check itself sees what it must: yaml is a static value export of deps.ts.
  assert.ok(imports.some((i) => i.from === "yaml"));
});

test("mod.ts loads nothing at import: no top-level await, and no module it reaches statically imports a heavy package", async () => {
  const graph = await staticGraph("mod.ts");
  assert.ok(graph.has("deps.ts") && graph.has("lib/kube/patch.ts"), "the walk reached deps.ts and the patch helpers");
  for (const file of graph) {
    const source = withoutComments(await readFile(join(root, file), "utf8"));
    assert.doesNotMatch(source, /^(?:export )?(?:const|let) [^=]+= await /m, `${file}: a top-level await`);
    for (const { statement, from } of valueImports(source)) {
      assert.ok(!["@kubernetes/client-node", "@peculiar/x509", "reflect-metadata"].includes(from), `${file}: ${statement}`);
    }
  }
});

test("the CLI and the runner never import mod.ts (the public surface stays out of their start)", async () => {
  for (const entry of ["cli.ts", "lib/runner/environment.ts", "lib/runner/reaper-main.ts"]) {
    const graph = await staticGraph(entry);
    assert.ok(graph.has("deps.ts") || entry.endsWith("reaper-main.ts"), `${entry}: the walk reached deps.ts`);
    assert.ok(!graph.has("mod.ts"), `${entry} reaches mod.ts: ${[...graph].join(", ")}`);
  }
  // And mod.ts itself is seen by the walk when it is imported.
  assert.ok((await staticGraph("tests/controlplane/workflow.test.ts")).has("mod.ts"));
});
