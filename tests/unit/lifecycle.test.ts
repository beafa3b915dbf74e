// Pausing a container: runc's cgroup freezer can give up on a busy container
// ("unable to freeze"); the pause is tried again. The freezer's refusal cannot
// be provoked on purpose here, so the docker calls are simulated (fake attempts).

import assert from "node:assert/strict";
import { test } from "../harness.ts";
import { DockerError } from "../../lib/docker/cli.ts";
import { retryFreeze } from "../../lib/docker/lifecycle.ts";

const refusal = () =>
  new DockerError(["pause", "c1"], 1, "Error response from daemon: Cannot pause container c1: OCI runtime pause failed: unable to freeze: unknown\n");

test("pause (simulated docker answers): a freezer refusal is tried again; the first success ends it", async () => {
  let calls = 0;
  await retryFreeze(() => ++calls < 3 ? Promise.reject(refusal()) : Promise.resolve(), [1, 1, 1, 1]);
  assert.equal(calls, 3);
});

test("pause (simulated docker answers): refusals past the last delay are reported as the freezer's, with the tries counted", async () => {
  let calls = 0;
  await assert.rejects(
    retryFreeze(() => (calls++, Promise.reject(refusal())), [1, 1]),
    (err: unknown) => {
      assert.ok(err instanceof DockerError);
      assert.match(err.message, /^docker pause: .*unable to freeze.* — the kernel's cgroup freezer could not stop every process of the container in 3 tries/);
      return true;
    },
  );
  assert.equal(calls, 3);
});

test("pause (simulated docker answers): any other error ends it at once", async () => {
  let calls = 0;
  const other = new DockerError(["pause", "c1"], 1, "Error response from daemon: Container c1 is not running\n");
  await assert.rejects(retryFreeze(() => (calls++, Promise.reject(other)), [1, 1]), other);
  assert.equal(calls, 1);
});
