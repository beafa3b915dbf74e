// How the crash watchdog is launched: the entry next to the module, with the
// module's own extension, and as a URL when Deno loaded k3sbox from one.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { test } from "../harness.ts";
import { reaperArgv } from "../../lib/runner/reaper.ts";
import { runtime } from "../../lib/runtime.ts";

const prefix = runtime === "bun" ? ["run"] : runtime === "deno" ? ["run", "-A"] : [];

test("reaper: sources launch reaper-main.ts, which exists next to reaper.ts", () => {
  const argv = reaperArgv();
  assert.deepEqual(argv.slice(0, -1), prefix);
  assert.match(argv.at(-1)!, /\/lib\/runner\/reaper-main\.ts$/);
  assert.ok(existsSync(argv.at(-1)!), `${argv.at(-1)} is missing`);
});

test("reaper: a compiled module (.js) launches the compiled entry", () => {
  assert.deepEqual(reaperArgv("file:///opt/app/node_modules/k3sbox/dist/lib/runner/reaper.js"), [
    ...prefix,
    "/opt/app/node_modules/k3sbox/dist/lib/runner/reaper-main.js",
  ]);
});

test("reaper: a module loaded from https: is launched by URL, not turned into a path", () => {
  const argv = reaperArgv("https://example.test/k3sbox/lib/runner/reaper.ts");
  assert.equal(argv.at(-1), "https://example.test/k3sbox/lib/runner/reaper-main.ts");
});
