// The README's afterEach pattern under the real `bun test` and `deno test`:
// env.diagnostics() is printed after the failing test only, and shows the
// service's real container state, log and the timeline.

import assert from "node:assert/strict";
import { test } from "../harness.ts";
import { run } from "../../lib/exec.ts";
import { ensureBusyboxImage } from "../support/images.ts";

const FIXTURE = new URL("../support/after-each-fixture.ts", import.meta.url).pathname;
const BIN = new URL("../../node_modules/.bin/", import.meta.url).pathname;

for (const [name, argv] of [["bun test", [`${BIN}bun`, "test", FIXTURE]], ["deno test", [`${BIN}deno`, "test", "-A", FIXTURE]]] as const) {
  test(`afterEach pattern under ${name}: diagnostics printed once, for the failing test only`, async () => {
    await ensureBusyboxImage();
    const r = await run(argv[0], argv.slice(1), { timeoutMs: 90_000 });
    const output = r.stdout + r.stderr;
    assert.notEqual(r.code, 0, `the failing test fails the run:\n${output}`);
    const reports = output.match(/DIAGNOSTICS BEGIN\n([\s\S]*?)\nDIAGNOSTICS END/g) ?? [];
    assert.equal(reports.length, 1, `one report (after "fails", none after "passes"):\n${output}`);
    assert.match(reports[0], /== service idle ==\ncontainer [0-9a-f]+: state=running exitCode=0\n/);
    assert.match(reports[0], /idle-service-started/);
    assert.match(reports[0], /== timeline ==/);
  }, { timeoutMs: 120_000 });
}
