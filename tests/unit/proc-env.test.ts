// Child processes see process.env as it is when they start, not as it was
// when the runtime started: a test file that sets DOCKER_HOST before it
// starts an environment must reach that daemon with every docker command.
// (Bun.spawn's default environment is the startup one.) Real processes.
import assert from "node:assert/strict";
import { test } from "../harness.ts";
import { run, runPipeline } from "../../lib/exec.ts";
import { spawnChild } from "../support/spawn-child.ts";
import { readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

const NAME = "K3SBOX_PROC_ENV_TEST";
const ECHO = `printf %s "\${${NAME}:-unset}"`;

test("run(), runPipeline() and spawnChild() pass on process.env as changed at run time", async () => {
  process.env[NAME] = `changed-${process.pid}`;
  try {
    assert.equal((await run("sh", ["-c", ECHO])).stdout, `changed-${process.pid}`);
    assert.equal((await run("sh", ["-c", ECHO], { env: { OTHER: "1" } })).stdout, `changed-${process.pid}`);
    const piped = await runPipeline({ cmd: "sh", args: ["-c", ECHO] }, { cmd: "sh", args: ["-c", `cat; ${ECHO}`] });
    assert.equal(piped.second.stdout, `changed-${process.pid}changed-${process.pid}`);
    const log = join(tmpdir(), `k3sbox-proc-env-${process.pid}.log`);
    try {
      const child = await spawnChild("sh", ["-c", ECHO], { logPath: log });
      await child.exited;
      assert.equal(await readFile(log, "utf8"), `changed-${process.pid}`);
    } finally {
      await rm(log, { force: true });
    }
  } finally {
    delete process.env[NAME];
  }
  assert.equal((await run("sh", ["-c", ECHO])).stdout, "unset", "and a deleted variable is gone");
});
