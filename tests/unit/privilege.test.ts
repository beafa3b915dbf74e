// The argv of `privileged: true` and of its capability fallback, the progress
// line and the refusal message: pure functions, no Docker.

import assert from "node:assert/strict";
import { test } from "../harness.ts";
import { CAPABILITIES, DockerArgumentError, type Privilege, privilegeArgs } from "../../lib/docker.ts";
import { PrivilegedRefusedError } from "../../lib/runner/preflight.ts";
import { fallbackNotice } from "../../lib/runner/privilege.ts";

const FALLBACK_COMMON = [
  "--security-opt", "seccomp=unconfined",
  "--security-opt", "apparmor=unconfined",
  "--security-opt", "systempaths=unconfined",
  "--device-cgroup-rule", "a *:* rwm",
];

test("privilegeArgs: full mode is --privileged, whatever the cgroup namespace", () => {
  assert.deepEqual(privilegeArgs({ mode: "full" }), ["--privileged"]);
  assert.deepEqual(privilegeArgs({ mode: "full" }, "host"), ["--privileged"]);
});

test("privilegeArgs: the fallback grants all but the dropped capabilities, unconfined, all devices, /dev/kmsg, writable cgroups under cgroupns host", () => {
  assert.deepEqual(privilegeArgs({ mode: "capabilities", drop: ["SYS_RESOURCE"], kmsg: true }, "host"), [
    "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE", ...FALLBACK_COMMON,
    "--device", "/dev/kmsg", "--volume", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
  ]);
});

test("privilegeArgs: no /dev/kmsg where the host has none; no cgroup mount outside cgroupns host; several drops in order", () => {
  const p: Privilege = { mode: "capabilities", drop: ["SYS_RESOURCE", "SYS_TIME"], kmsg: false };
  const expected = ["--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE", "--cap-drop", "SYS_TIME", ...FALLBACK_COMMON];
  assert.deepEqual(privilegeArgs(p, "private"), expected);
  assert.deepEqual(privilegeArgs(p), expected);
  assert.deepEqual(privilegeArgs({ mode: "capabilities", drop: [], kmsg: false }), ["--cap-add", "ALL", ...FALLBACK_COMMON]);
});

test("privilegeArgs: every capability name is accepted; anything else is refused before it reaches argv", () => {
  for (const c of CAPABILITIES) assert.deepEqual(privilegeArgs({ mode: "capabilities", drop: [c], kmsg: false }).slice(2, 4), ["--cap-drop", c]);
  const bad: [string, unknown, RegExp][] = [
    ["a flag", { mode: "capabilities", drop: ["--privileged"], kmsg: false }, /invalid capability "--privileged": expected a Linux capability name without CAP_/],
    ["two words", { mode: "capabilities", drop: ["SYS_ADMIN --privileged"], kmsg: false }, /invalid capability "SYS_ADMIN --privileged"/],
    ["the CAP_ prefix", { mode: "capabilities", drop: ["CAP_SYS_RESOURCE"], kmsg: false }, /invalid capability "CAP_SYS_RESOURCE"/],
    ["lower case", { mode: "capabilities", drop: ["sys_resource"], kmsg: false }, /invalid capability "sys_resource"/],
    ["ALL", { mode: "capabilities", drop: ["ALL"], kmsg: false }, /invalid capability "ALL"/],
    ["a number", { mode: "capabilities", drop: [24], kmsg: false }, /invalid capability "24"/],
    ["drop not an array", { mode: "capabilities", drop: "SYS_RESOURCE", kmsg: false }, /invalid privilege\.drop "SYS_RESOURCE": must be an array/],
    ["kmsg not a boolean", { mode: "capabilities", drop: [], kmsg: "/dev/mem" }, /invalid privilege\.kmsg "\/dev\/mem": must be true or false/],
    ["unknown mode", { mode: "root" }, /invalid privilege mode "root": must be "full" or "capabilities"/],
    ["no mode", {}, /invalid privilege mode "undefined"/],
  ];
  for (const [what, p, message] of bad) {
    assert.throws(() => privilegeArgs(p as Privilege), (err: unknown) => {
      assert.ok(err instanceof DockerArgumentError, `${what}: ${err}`);
      assert.match(err.message, message, what);
      return true;
    });
  }
});

test("fallbackNotice: names the service, the capabilities Docker cannot grant and what the service gets instead", () => {
  assert.equal(
    fallbackNotice("k8s", { mode: "capabilities", drop: ["SYS_RESOURCE"], kmsg: true }, "host"),
    `service "k8s": this Docker host refuses --privileged (cannot grant CAP_SYS_RESOURCE); running it with all other ` +
      `capabilities, unconfined seccomp/AppArmor/system paths, all devices (with /dev/kmsg) and a writable cgroup mount`,
  );
  const noKmsg = fallbackNotice("db", { mode: "capabilities", drop: ["SYS_RESOURCE", "SYS_TIME"], kmsg: false });
  assert.match(noKmsg, /cannot grant CAP_SYS_RESOURCE, CAP_SYS_TIME\); .* all devices and a read-only \/sys\/fs\/cgroup \(writable only under cgroupns "host"\)$/);
});

test("PrivilegedRefusedError: both refusals; k3s wording only for a k3s image", () => {
  const refused = {
    ok: false as const,
    refusal: "… unable to apply caps: operation not permitted: unknown",
    fallback: { drop: ["SYS_RESOURCE"], detail: "… apparmor failed to apply profile: unknown" },
  };
  const k3s = new PrivilegedRefusedError("k8s", "rancher/k3s:v1.31.4-k3s1", refused).message;
  assert.match(k3s, /^service "k8s" \(rancher\/k3s:v1\.31\.4-k3s1\) needs a privileged container — k3s runs containerd/);
  assert.match(k3s, /\n {2}--privileged: … unable to apply caps: operation not permitted: unknown\n/);
  assert.match(k3s, /\n {2}the fallback \(all capabilities but CAP_SYS_RESOURCE, .*\): … apparmor failed to apply profile: unknown\n/);
  assert.match(k3s, /unprivileged k3s-compatible image/);

  const other = new PrivilegedRefusedError("db", "example.test/postgres:17", refused).message;
  assert.match(other, /^service "db" \(example\.test\/postgres:17\) needs a privileged container \(privileged: true\), but this Docker host refuses/);
  assert.doesNotMatch(other, /k3s/);
  assert.match(other, /--privileged: … unable to apply caps/);
  assert.match(other, /the fallback .*: … apparmor failed/);

  // A registry port and a digest do not hide the repository name; "k3sbox-…" is not k3s.
  assert.match(new PrivilegedRefusedError("k", "localhost:5000/k3s@sha256:abc", refused).message, /k3s runs containerd/);
  assert.doesNotMatch(new PrivilegedRefusedError("k", "k3sbox-test-busybox:1", refused).message, /k3s runs containerd/);

  const noFallback = new PrivilegedRefusedError("k8s", "rancher/k3s:v1", { ok: false, refusal: "privileged mode is disabled" }).message;
  assert.match(noFallback, /--privileged: privileged mode is disabled\n {2}no capability fallback: Docker refused --privileged for another reason than capabilities/);
});
