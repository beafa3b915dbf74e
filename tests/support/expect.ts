// The runtime's own strict deep equality, as a k3sbox user writes it:
// bun:test's `expect(a).toStrictEqual(b)` under Bun; under Deno and Node,
// node:assert's deepStrictEqual (what `deno test` suites use without JSR).

import { deepStrictEqual } from "node:assert/strict";

// deno-lint-ignore no-explicit-any
const g = globalThis as any;
const bunTestModule = "bun:test"; // indirect, so Deno never resolves it
// deno-lint-ignore no-explicit-any
const bunExpect: any = typeof g.Bun !== "undefined" ? (await import(bunTestModule)).expect : undefined;

export function expectStrictEqual(actual: unknown, expected: unknown): void {
  if (bunExpect) bunExpect(actual).toStrictEqual(expected);
  else deepStrictEqual(actual, expected);
}
