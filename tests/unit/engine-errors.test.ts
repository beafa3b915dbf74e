import assert from "node:assert/strict";
import { test } from "../harness.ts";
import { RLIMIT_REFUSED, rlimitAdvice } from "../../lib/docker.ts";

const PODMAN = "Error response from daemon: runc: runc create failed: unable to start container process: error during container init: " +
  "error setting rlimits for ready process: error setting rlimit type 7: operation not permitted: OCI permission denied\n";

test("engine errors: runc refusing Podman's rlimits names the limit and the setting to change", () => {
  assert.ok(RLIMIT_REFUSED.test(PODMAN));
  const advice = rlimitAdvice(PODMAN);
  assert.match(advice, /rlimit \(nofile\) above this host's hard limit/);
  assert.match(advice, /default_ulimits in \/etc\/containers\/containers\.conf/);
  assert.match(rlimitAdvice(PODMAN.replace("type 7", "type 6")), /\(nproc\)/);
  assert.ok(!RLIMIT_REFUSED.test("Error response from daemon: unable to apply caps: operation not permitted"));
});

test("rootless cgroup v1: a service that creates cgroups (k3s) is refused up front naming the cause; others and cgroup v2 pass", async () => {
  const { rootlessBlocker } = await import("../../lib/runner/preflight.ts");
  const k3s = { image: { reference: "rancher/k3s:v1.32.1-k3s1" }, privileged: true, cgroupns: "host" };
  const plain = { image: { reference: "busybox" } };
  const err = rootlessBlocker({ rootless: true, cgroupVersion: "1" }, { k8s: k3s, db: plain });
  assert.ok(err);
  assert.match(err.message, /service "k8s" \(rancher\/k3s:v1\.32\.1-k3s1\) needs to create cgroups — a k3s node/);
  assert.match(err.message, /rootless on cgroup v1/);
  assert.equal(rootlessBlocker({ rootless: true, cgroupVersion: "1" }, { db: plain }), undefined);
  assert.equal(rootlessBlocker({ rootless: true, cgroupVersion: "2" }, { k8s: k3s }), undefined);
  assert.equal(rootlessBlocker({ rootless: false, cgroupVersion: "1" }, { k8s: k3s }), undefined);
});

test("fake node: the node image's own 'no real node' line gives the reason; real k3s logs have none", async () => {
  const { fakeNodeReason } = await import("../../lib/k3s/node-check.ts");
  assert.equal(
    fakeNodeReason('time="2026-12-07T12:00:00Z" level=info msg="no real node: not running in a container (a real kubelet would manage this host\'s cgroups and network); kwok fakes the node and its pods"\n'),
    "not running in a container (a real kubelet would manage this host's cgroups and network)",
  );
  assert.equal(fakeNodeReason("I1207 12:00:00 server.go:123] Running kubelet\n"), undefined);
});
