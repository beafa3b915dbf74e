// Liveness across PID namespaces, judged from the host: an environment owned
// by a process in a container (tests/support/dood.ts) is live while that
// container runs and dead at once after (`k3sbox list`, `down`). The dead
// environment is inspected after the kill, so another job's start must not
// sweep it first (lib/runner/sweep.ts): scripts/test.sh runs this file with
// K3SBOX_SWEEP=0 in every job beside it, after the files that prune.

import assert from "node:assert/strict";
import { suite } from "../harness.ts";
import { docker, dockerResult, listByLabel } from "../../lib/docker.ts";
import { LABEL_ENV } from "../../lib/runner/labels.ts";
import { ensureBusyboxImage } from "../support/images.ts";
import { leftoversOf, readyLine, siblingsOf, startInSocketContainer } from "../support/dood.ts";
import { ENV_CHILD, runTag } from "../support/child-processes.ts";

suite("an environment owned from a container with the host's socket mounted (DooD), judged from the host", {
  setup: async () => {
    await ensureBusyboxImage();
    return {};
  },
  teardown: async () => {},
}, (t) => {
  t("liveness across PID namespaces: the host sees an in-container owner as live while its container runs, dead at once after (list, down)", async () => {
    const { listEnvironments } = await import("../../lib/runner/prune.ts");
    const { planDown } = await import("../../lib/cli/down.ts");
    const name = `k3sbox-test-dood-${runTag()}`;
    // No watchdogs: what is judged here is the label, not a cleanup.
    await startInSocketContainer(name, ENV_CHILD, { K3SBOX_REAPER: "0" });
    let envId = "";
    try {
      const logs = await readyLine(name);
      envId = /READY (\w+)/.exec(logs)![1];
      const session = (await listByLabel("container", [`${LABEL_ENV}=${envId}`]))[0].labels["k3sbox.session"];
      assert.deepEqual(await siblingsOf(session), [], "K3SBOX_REAPER=0: no sibling watchdog");
      const live = (await listEnvironments()).find((e) => e.id === envId);
      assert.equal(live?.owned, true, "owned while its container runs (its pid is another namespace's)");
      assert.deepEqual(planDown(await listEnvironments(), [envId], {}).spared, [envId]);
      await docker(["kill", name]);
      const dead = (await listEnvironments()).find((e) => e.id === envId);
      assert.equal(dead?.owned, false, "not owned once its container stopped (before: another host's, left alone for an hour)");
      assert.deepEqual(planDown(await listEnvironments(), [envId], {}).remove, [envId]);
    } finally {
      await dockerResult(["rm", "--force", name]);
      if (envId) await (await import("../../lib/runner/prune.ts")).removeEnvironment(envId);
    }
    assert.deepEqual(await leftoversOf(envId), []);
  }, { timeoutMs: 120_000 });
});
