// Who the sweep at start may remove (lib/runner/liveness.ts isProvablyDead):
// only an owner that is provably dead — its owner container stopped, or its
// pid gone in this very PID namespace (of this kernel boot) on this host.
// Pure: the labels and the owner containers' states are given; pid liveness
// is this machine's (a pid above the kernel's maximum is never alive).

import assert from "node:assert/strict";
import { test } from "../harness.ts";
import type { LabelledObject } from "../../lib/docker.ts";
import { isLive, isProvablyDead, type OwnerStates } from "../../lib/runner/liveness.ts";
import {
  HOST_NAME,
  LABEL_DETACHED,
  LABEL_ENV,
  LABEL_HOST,
  LABEL_OWNER_CONTAINER,
  LABEL_PID,
  LABEL_PIDNS,
  LABEL_SESSION,
  PID_NAMESPACE,
  SESSION_ID,
} from "../../lib/runner/labels.ts";

const DEAD_PID = "4194305"; // above Linux's pid_max (2^22)
const OWNER = "a".repeat(64);
const none: OwnerStates = { running: new Set() };

function object(labels: Record<string, string | undefined>): LabelledObject {
  const base: Record<string, string> = {
    [LABEL_SESSION]: `${DEAD_PID}-deadbeef`,
    [LABEL_ENV]: "0123456789",
    [LABEL_HOST]: HOST_NAME,
    [LABEL_PID]: DEAD_PID,
    [LABEL_PIDNS]: PID_NAMESPACE,
  };
  for (const [k, v] of Object.entries(labels)) {
    if (v === undefined) delete base[k];
    else base[k] = v;
  }
  return { id: "c1", name: "k3sbox-0123456789-svc", labels: base, createdAt: new Date() };
}

test("sweep rule: a dead pid in this PID namespace on this host is provably dead", () => {
  assert.equal(isProvablyDead(object({}), none), true);
});

test("sweep rule: the same dead pid recorded in another PID namespace (a container sharing the host's name) is not provably dead, though prune's rule calls it not live", () => {
  const o = object({ [LABEL_PIDNS]: `${PID_NAMESPACE.split("/")[0]}/pid:[1]` });
  assert.equal(isLive(o, none), false, "prune (run knowingly) judges it dead");
  assert.equal(isProvablyDead(o, none), false, "the sweep leaves it");
});

test("sweep rule: the same namespace inode under another kernel boot (another machine of the same name sharing the daemon, or before a reboot) is not provably dead", () => {
  const ns = PID_NAMESPACE.split("/")[1] ?? "pid:[4026531836]";
  assert.equal(isProvablyDead(object({ [LABEL_PIDNS]: `00000000-0000-0000-0000-000000000000/${ns}` }), none), false);
});

test("sweep rule: no PID-namespace label (an older k3sbox) or another host: left to prune", () => {
  assert.equal(isProvablyDead(object({ [LABEL_PIDNS]: undefined }), none), false);
  assert.equal(isProvablyDead(object({ [LABEL_HOST]: `${HOST_NAME}-elsewhere` }), none), false);
});

test("sweep rule: a live pid, this process's own session and a detached environment are never dead", () => {
  assert.equal(isProvablyDead(object({ [LABEL_PID]: String(process.pid) }), none), false);
  assert.equal(isProvablyDead(object({ [LABEL_SESSION]: SESSION_ID }), none), false);
  assert.equal(isProvablyDead(object({ [LABEL_DETACHED]: "true" }), none), false);
});

test("sweep rule: an owner container decides for its process: dead once it stopped, live while it runs, wherever the pid is", () => {
  const o = object({ [LABEL_OWNER_CONTAINER]: OWNER, [LABEL_HOST]: "some-container", [LABEL_PIDNS]: "pid:[1]" });
  assert.equal(isProvablyDead(o, none), true);
  assert.equal(isProvablyDead(o, { running: new Set([OWNER]) }), false);
});
