// Which environments `k3sbox down` picks (lib/cli/down.ts).
import assert from "node:assert/strict";
import { test } from "../harness.ts";
import { planDown } from "../../lib/cli/down.ts";

const listed = [
  { id: "aaaaaaaaaa", owned: true }, // a `k3sbox up` waiting for Ctrl-C, a test run
  { id: "bbbbbbbbbb", owned: false }, // detached
  { id: "cccccccccc", owned: false }, // its process is gone
];

test("down --all: detached and dead environments only; owned ones are spared", () => {
  assert.deepEqual(planDown(listed, [], { all: true }), { remove: ["bbbbbbbbbb", "cccccccccc"], spared: ["aaaaaaaaaa"] });
});

test("down --all --force: every environment", () => {
  assert.deepEqual(planDown(listed, [], { all: true, force: true }), { remove: ["aaaaaaaaaa", "bbbbbbbbbb", "cccccccccc"], spared: [] });
});

test("down <ids>: an owned one is spared unless --force; unlisted ids are still tried (their files may remain)", () => {
  assert.deepEqual(planDown(listed, ["aaaaaaaaaa", "dddddddddd", "dddddddddd"], {}), { remove: ["dddddddddd"], spared: ["aaaaaaaaaa"] });
  assert.deepEqual(planDown(listed, ["aaaaaaaaaa"], { force: true }), { remove: ["aaaaaaaaaa"], spared: [] });
});
