// Refusals of a loaded engine that pass (lib/docker/transient.ts): runc's
// cgroup freezer giving up on a busy container when pausing it ("unable to
// freeze"), containerd's shim missing its deadline when starting one. Neither
// can be provoked on purpose here, so the docker calls are simulated (fake attempts).

import assert from "node:assert/strict";
import { test } from "../harness.ts";
import { DockerError } from "../../lib/docker/cli.ts";
import { FREEZER_REFUSAL, retryTransient, SHIM_START_REFUSAL } from "../../lib/docker/transient.ts";

const retryFreeze = (attempt: () => Promise<void>, delaysMs: number[]) => retryTransient(FREEZER_REFUSAL, attempt, delaysMs);

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

test("start (simulated docker answers): containerd's shim missing its deadline is tried again, and named once the tries run out", async () => {
  const shim = () =>
    new DockerError(
      ["start", "c1"],
      1,
      'Error response from daemon: failed to create shim task: failed to start io pipe copy: unable to copy pipes: containerd-shim: opening w/o fifo "/var/run/docker/containerd/c1/init-stdout" failed: context deadline exceeded\nError: failed to start containers: c1\n',
    );
  let calls = 0;
  await retryTransient(SHIM_START_REFUSAL, () => ++calls < 2 ? Promise.reject(shim()) : Promise.resolve(), [1, 1]);
  assert.equal(calls, 2);
  calls = 0;
  await assert.rejects(retryTransient(SHIM_START_REFUSAL, () => (calls++, Promise.reject(shim())), [1]), (err: unknown) => {
    assert.ok(err instanceof DockerError);
    assert.match(err.message, /^docker start: .* — containerd's shim could not set up the container's process in 2 tries/);
    return true;
  });
  assert.equal(calls, 2);
});
