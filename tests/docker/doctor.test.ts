// `k3sbox doctor` against the real engine: what it reports (engine, topology
// and why, privilege decision, image presence) and what to change.

import assert from "node:assert/strict";
import { suite } from "../harness.ts";
import { readFile } from "node:fs/promises";
import { docker } from "../../lib/docker.ts";
import { inotifyAdvice } from "../../lib/runner/host-limits.ts";
import { run } from "../../lib/exec.ts";
import { BUSYBOX_IMAGE, ensureBusyboxImage } from "../support/images.ts";
import { scriptArgv } from "../support/script.ts";

const CLI = new URL("../../cli.ts", import.meta.url).pathname;
const doctor = (args: string[], env: Record<string, string> = {}) => {
  const [cmd, ...rest] = scriptArgv(CLI);
  return run(cmd, [...rest, "doctor", ...args], { env, timeoutMs: 60_000 });
};

suite("k3sbox doctor (real Docker engine)", {
  setup: async () => {
    await ensureBusyboxImage();
    return {};
  },
  teardown: async () => {},
}, (t) => {
  t("--json: engine and version, local topology and why, privilege decision, the host's inotify limits, image present, nothing to change; exit 0", async () => {
    const r = await doctor(["--json", "--image", BUSYBOX_IMAGE]);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.ok, true);
    assert.equal(j.docker.engine, "Docker");
    assert.equal(j.docker.serverVersion, (await docker(["version", "--format", "{{.Server.Version}}"])).trim());
    assert.equal(j.docker.rootless, false);
    assert.equal(j.topology.kind, "local");
    assert.equal(j.topology.dialHost, "127.0.0.1");
    assert.match(j.topology.reason, /127\.0\.0\.1 only/);
    assert.ok(["full", "capabilities"].includes(j.privilege.mode), j.privilege.detail);
    assert.deepEqual(j.image, { reference: BUSYBOX_IMAGE, present: true });
    // The daemon's host is this machine: the inotify limits are the ones /proc shows here.
    const limits = {
      maxUserInstances: Number(await readFile("/proc/sys/fs/inotify/max_user_instances", "utf8")),
      maxUserWatches: Number(await readFile("/proc/sys/fs/inotify/max_user_watches", "utf8")),
    };
    assert.deepEqual(j.inotify, limits);
    const low = inotifyAdvice(limits);
    assert.deepEqual(j.advice, low ? [low] : [], "nothing to change but inotify limits below what several clusters need");
  });

  t("K3SBOX_HOST shows as the override; an absent image is named with what to do (not a blocker)", async () => {
    const r = await doctor(["--json", "--image", "k3sbox-test-absent:0"], { K3SBOX_HOST: "127.0.0.2" });
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.topology.kind, "override");
    assert.equal(j.topology.dialHost, "127.0.0.2");
    assert.match(j.topology.reason, /K3SBOX_HOST says/);
    assert.equal(j.image.present, false);
    assert.match(j.advice.join("\n"), /k3sbox-test-absent:0 is not present on this daemon/);
  });

  t("text output names each part; an unreachable daemon fails with exit 1 saying so", async () => {
    const r = await doctor(["--image", BUSYBOX_IMAGE]);
    assert.equal(r.code, 0, r.stderr);
    for (const part of ["daemon ", "topology    local:", "address     127.0.0.1", "privilege ", `image       ${BUSYBOX_IMAGE}: present`]) {
      assert.ok(r.stdout.includes(part), `missing ${JSON.stringify(part)} in:\n${r.stdout}`);
    }
    const bad = await doctor(["--json"], { DOCKER_HOST: "unix:///nonexistent/docker.sock" });
    assert.equal(bad.code, 1, bad.stderr);
    const j = JSON.parse(bad.stdout);
    assert.equal(j.ok, false);
    assert.match(j.advice.join("\n"), /not reachable/);
  });
});
