// How the crash watchdog is launched: the entry next to the module, with the
// module's own extension, and as a URL when Deno loaded k3sbox from one; and
// how it sees docker commands its dead parent left running (a real process, /proc).
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { test } from "../harness.ts";
import { spawn } from "node:child_process";
import { lingeringCreators, reaperArgv } from "../../lib/runner/reaper.ts";
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

test("reaper: lingeringCreators counts live processes whose command line carries the session, and stops counting them once they end", async () => {
  const session = `test-${crypto.randomUUID()}`;
  assert.equal(await lingeringCreators(session), 0);
  // Stands in for a `docker create --label k3sbox.session=<session>` the dead parent left running.
  // `read` is a shell builtin: the shell forks nothing, so exactly one process carries the session.
  const child = spawn("/bin/sh", ["-c", "read line", "sh", `k3sbox.session=${session}`], { stdio: ["pipe", "ignore", "ignore"] });
  const exited = new Promise((r) => child.on("exit", r));
  try {
    assert.equal(await lingeringCreators(session), 1);
  } finally {
    child.kill("SIGKILL");
    await exited;
  }
  assert.equal(await lingeringCreators(session), 0);
});
