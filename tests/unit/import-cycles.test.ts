// No import cycle in the library: walks every module under lib/ (and the
// entry points) through its static imports and re-exports, type-only ones
// included, and its dynamic import("./…") calls, and fails naming a cycle.

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { test } from "../harness.ts";
import { repoRoot, sourceFiles } from "../support/source-files.ts";

const root = repoRoot;
const withoutComments = (source: string) => source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");


/** The relative modules `file` imports, re-exports or dynamically imports. */
export function importsOf(file: string, source: string): string[] {
  const text = withoutComments(source);
  const specs = [
    ...[...text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+"([^"]+)"/gms)].map((m) => m[1]!),
    ...[...text.matchAll(/^\s*import\s+"([^"]+)"/gm)].map((m) => m[1]!),
    ...[...text.matchAll(/\bimport\(\s*"([^"]+)"\s*\)/g)].map((m) => m[1]!),
  ];
  return specs.filter((s) => s.startsWith(".")).map((s) => relative(root, join(root, dirname(file), s)));
}

/** One cycle in the graph, as a path that ends where it started, or undefined. */
export function findCycle(graph: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (node: string): string[] | undefined => {
    if (state.get(node) === "done") return undefined;
    if (state.get(node) === "open") return [...stack.slice(stack.indexOf(node)), node];
    state.set(node, "open");
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(node, "done");
    return undefined;
  };
  for (const node of [...graph.keys()].sort()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return undefined;
}

test("import cycles: the walk finds one when there is one", () => {
  const graph = new Map([["a.ts", ["b.ts"]], ["b.ts", ["c.ts"]], ["c.ts", ["a.ts"]], ["d.ts", ["a.ts"]]]);
  assert.deepEqual(findCycle(graph), ["a.ts", "b.ts", "c.ts", "a.ts"]);
  assert.equal(findCycle(new Map([["a.ts", ["b.ts"]], ["b.ts", []]])), undefined);
  assert.deepEqual(importsOf("lib/x/y.ts", 'import type { A } from "./a.ts";\nexport { B } from "../b.ts";\nconst c = await import("./c.ts");\n// import "./d.ts";\n'), ["lib/x/a.ts", "lib/b.ts", "lib/x/c.ts"]);
});

test("import cycles: none in lib/ and the entry points", async () => {
  const files = [...await sourceFiles("lib"), "mod.ts", "cli.ts", "deps.ts"];
  const graph = new Map<string, string[]>();
  for (const f of files) graph.set(f, importsOf(f, await readFile(join(root, f), "utf8")));
  assert.ok(graph.size > 50, `the walk saw ${graph.size} modules`);
  const cycle = findCycle(graph);
  assert.equal(cycle, undefined, `import cycle: ${cycle?.join(" → ")}`);
});
