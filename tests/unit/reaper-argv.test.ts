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

test("reaper: lingeringCreators counts live processes that label objects with the session (not ones that filter on it), until they end", async () => {
  const session = `test-${crypto.randomUUID()}`;
  assert.equal(await lingeringCreators(session), 0);
  // `read` is a shell builtin: the shell forks nothing, so each stand-in is exactly one process.
  const standIn = (...args: string[]) => {
    const child = spawn("/bin/sh", ["-c", "read line", "sh", ...args], { stdio: ["pipe", "ignore", "ignore"] });
    return { child, exited: new Promise((r) => child.on("exit", r)) };
  };
  // A `docker ps --filter label=k3sbox.session=<session>` poll: creates nothing, never waited for.
  const poll = standIn("ps", "--filter", `label=k3sbox.session=${session}`);
  // A `docker create --label k3sbox.session=<session>` the dead parent left running.
  const create = standIn("create", "--label", `k3sbox.session=${session}`);
  try {
    assert.equal(await lingeringCreators(session), 1);
  } finally {
    create.child.kill("SIGKILL");
    await create.exited;
  }
  try {
    assert.equal(await lingeringCreators(session), 0);
  } finally {
    poll.child.kill("SIGKILL");
    await poll.exited;
  }
});
