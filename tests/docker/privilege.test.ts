// `privileged: true` against the real engine: where Docker refuses
// --privileged because it cannot apply a capability (this machine lacks
// CAP_SYS_RESOURCE), the runner starts the service with the capability
// fallback, says so on progress, and the container can do what privileged
// mode is wanted for; where even the fallback is refused, the error tells both.

import assert from "node:assert/strict";
import { readFile, stat } from "node:fs/promises";
import process from "node:process";
import { skip, suite } from "../harness.ts";
import {
  createContainer,
  docker,
  DockerError,
  dockerInfo,
  listByLabel,
  probePrivilege,
  removeContainers,
  startContainer,
} from "../../lib/docker.ts";
import { startEnvironment } from "../../lib/runner/environment.ts";
import { PrivilegedRefusedError } from "../../lib/runner/preflight.ts";
import { resolvePrivilege } from "../../lib/runner/privilege.ts";
import type { HelperContext, ServiceDefinition } from "../../lib/service.ts";
import { BUSYBOX_IMAGE, ensureBusyboxImage } from "../support/images.ts";
import { leftovers } from "../support/leftovers.ts";

const image = { type: "registry" as const, reference: BUSYBOX_IMAGE };
const LABEL = "k3sbox.test.privilege";
const runId = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

// Which cases can run depends on how this host answers --privileged: asked
// once, before the cases register, so a host that grants it skips them aloud.
await ensureBusyboxImage();
const daemon = await dockerInfo();
const full = await probePrivilege(BUSYBOX_IMAGE, { mode: "full" });
/** The daemon runs on this machine, so its cgroups and sysctls are ours to look at. */
const localDaemon = !process.env.DOCKER_HOST || process.env.DOCKER_HOST.startsWith("unix://");

const shell = (ctx: HelperContext, script: string) => ctx.exec(["sh", "-c", script]);
const sleeper = (extra: Partial<ServiceDefinition<HelperContext>> = {}): ServiceDefinition<HelperContext> => ({
  image,
  command: "exec sleep 600",
  helpers: (ctx) => ctx,
  ...extra,
});

/** Capability bits of a /proc/<pid>/status line such as `CapEff: 0000003ffeffffff`. */
function capBits(status: string, field: string): bigint {
  const m = new RegExp(`^${field}:\\s*([0-9a-f]+)$`, "m").exec(status);
  assert.ok(m, `${field} in ${status}`);
  return BigInt(`0x${m[1]}`);
}
const CAP_SYS_ADMIN = 21n, CAP_SYS_RESOURCE = 24n;
const has = (bits: bigint, cap: bigint) => ((bits >> cap) & 1n) === 1n;

if (full.started) {
  skip(
    "privileged: true through the capability fallback",
    `this Docker host grants --privileged (${full.detail}), so the fallback is never used here; it runs where Docker cannot apply a capability`,
  );
} else if (!full.capabilityRefused) {
  skip("privileged: true through the capability fallback", `this Docker host refuses --privileged for another reason than capabilities: ${full.detail}`);
} else {
  suite("privileged: true where Docker cannot apply a capability (real engine, busybox image)", {
    setup: () => Promise.resolve({}),
    teardown: async () => {
      const mine = await listByLabel("container", [`${LABEL}=${runId}`]);
      await removeContainers(mine.map((c) => c.id));
    },
  }, (t) => {
    t("the service starts through the fallback, progress says so once, and it does what an unprivileged container cannot", async () => {
      const lines: string[] = [];
      const env = await startEnvironment({
        services: { k8s: sleeper({ privileged: true, cgroupns: "host" }), plain: sleeper() },
        onProgress: (m) => lines.push(m),
      });
      const cgroupRoot = daemon.cgroupVersion === "1" ? "/sys/fs/cgroup/pids" : "/sys/fs/cgroup";
      const cgroupDir = `${cgroupRoot}/k3sbox-test-${env.id}`;
      try {
        const resolution = await resolvePrivilege(BUSYBOX_IMAGE, daemon.id);
        assert.ok(resolution.ok && resolution.privilege.mode === "capabilities", JSON.stringify(resolution));
        const { drop, kmsg } = resolution.privilege;
        assert.ok(drop.length > 0, "a capability refusal means something is dropped");

        const notices = lines.filter((l) => l.includes("refuses --privileged"));
        assert.equal(notices.length, 1, lines.join("\n"));
        assert.equal(
          notices[0],
          `service "k8s": this Docker host refuses --privileged (cannot grant ${drop.map((c) => `CAP_${c}`).join(", ")}); ` +
            `running it with all other capabilities, unconfined seccomp/AppArmor/system paths, all devices` +
            `${kmsg ? " (with /dev/kmsg)" : ""} and a writable cgroup mount`,
        );
        console.log(`  progress: ${notices[0]}`);

        // What Docker was asked for, as Docker recorded it.
        const host = JSON.parse(await docker(["inspect", "--format", "{{json .HostConfig}}", env.services.k8s.containerId]));
        assert.equal(host.Privileged, false);
        assert.deepEqual(host.CapAdd, ["ALL"]);
        assert.deepEqual(host.CapDrop, drop.map((c) => `CAP_${c}`));
        assert.ok(host.SecurityOpt.includes("seccomp=unconfined") && host.SecurityOpt.includes("apparmor=unconfined"), String(host.SecurityOpt));
        assert.deepEqual(host.MaskedPaths ?? [], []);
        assert.deepEqual(host.DeviceCgroupRules, ["a *:* rwm"]);

        const k8s = env.svc.k8s, plain = env.svc.plain;
        // Capabilities: everything but the dropped ones.
        const eff = capBits((await shell(k8s, "cat /proc/self/status")).stdout, "CapEff");
        assert.ok(has(eff, CAP_SYS_ADMIN), `CAP_SYS_ADMIN in ${eff.toString(16)}`);
        if (drop.includes("SYS_RESOURCE")) assert.ok(!has(eff, CAP_SYS_RESOURCE), `no CAP_SYS_RESOURCE in ${eff.toString(16)}`);
        assert.ok(!has(capBits((await shell(plain, "cat /proc/self/status")).stdout, "CapEff"), CAP_SYS_ADMIN));

        // A cgroup directory (the kubelet's daily bread): made, seen by the host, removed.
        const mk = await shell(k8s, `mkdir ${cgroupDir} && test -f ${cgroupDir}/cgroup.procs`);
        assert.equal(mk.code, 0, mk.stderr);
        if (localDaemon) assert.ok((await stat(cgroupDir)).isDirectory(), `${cgroupDir} on the host`);
        assert.equal((await shell(k8s, `rmdir ${cgroupDir}`)).code, 0);
        if (localDaemon) await assert.rejects(stat(cgroupDir), /ENOENT/);
        const mkPlain = await shell(plain, `mkdir ${cgroupDir}`);
        assert.notEqual(mkPlain.code, 0);
        assert.match(mkPlain.stderr, /Read-only file system/);

        // A network sysctl, in the container's own network namespace only.
        const hostKeepalive = localDaemon ? await readFile("/proc/sys/net/ipv4/tcp_keepalive_time", "utf8") : "";
        const value = hostKeepalive.trim() === "4321" ? "4322" : "4321";
        const sysctl = await shell(k8s, `echo ${value} > /proc/sys/net/ipv4/tcp_keepalive_time && cat /proc/sys/net/ipv4/tcp_keepalive_time`);
        assert.equal(sysctl.code, 0, sysctl.stderr);
        assert.equal(sysctl.stdout.trim(), value);
        if (localDaemon) assert.equal(await readFile("/proc/sys/net/ipv4/tcp_keepalive_time", "utf8"), hostKeepalive, "the host's value is untouched");
        const sysctlPlain = await shell(plain, `echo ${value} > /proc/sys/net/ipv4/tcp_keepalive_time`);
        assert.notEqual(sysctlPlain.code, 0);
        assert.match(sysctlPlain.stderr, /Read-only file system/);

        // Devices: any device node is usable (here the kernel log's, made with mknod).
        const dev = await shell(k8s, "mknod /tmp/kmsg c 1 11 && head -n 1 /tmp/kmsg");
        assert.equal(dev.code, 0, dev.stderr);
        assert.match(dev.stdout, /^\d+,\d+,\d+,/);
        const devPlain = await shell(plain, "mknod /tmp/kmsg c 1 11 && head -n 1 /tmp/kmsg");
        assert.notEqual(devPlain.code, 0);
        assert.match(devPlain.stderr, /Operation not permitted/);
        if (kmsg) assert.equal((await shell(k8s, "head -n 1 /dev/kmsg")).code, 0);
      } finally {
        await env.stop();
      }
      assert.deepEqual(await leftovers(env.id), []);
      if (localDaemon) await assert.rejects(stat(cgroupDir), /ENOENT/);
    }, { timeoutMs: 90_000 });

    t("the capability search (forced to start from an empty guess) finds the same set as the one-probe guess", async () => {
      const t0 = performance.now();
      const searched = await resolvePrivilege(BUSYBOX_IMAGE, daemon.id, { firstGuess: [] });
      const ms = Math.round(performance.now() - t0);
      const guessed = await resolvePrivilege(BUSYBOX_IMAGE, daemon.id);
      assert.ok(searched.ok && searched.privilege.mode === "capabilities", JSON.stringify(searched));
      assert.ok(guessed.ok && guessed.privilege.mode === "capabilities", JSON.stringify(guessed));
      assert.deepEqual(searched.privilege.drop, guessed.privilege.drop);
      console.log(`  capability search: drop ${searched.privilege.drop.join(", ")} (${ms} ms, not a pass/fail timing)`);
      // Cross-check with the kernel: this process's bounding set lacks each capability Docker could not grant.
      if (localDaemon) {
        const bounding = capBits(await readFile("/proc/self/status", "utf8"), "CapBnd");
        const CAP_NUMBER: Record<string, bigint> = { SYS_RESOURCE: 24n, SYS_TIME: 25n, SYS_MODULE: 16n, SYS_RAWIO: 17n, SYS_ADMIN: 21n };
        for (const c of searched.privilege.drop) if (c in CAP_NUMBER) assert.ok(!has(bounding, CAP_NUMBER[c]), `${c} is in this host's bounding set`);
      }
    }, { timeoutMs: 120_000 });

    t("a fallback Docker refuses too (forced: the search may drop no capability) fails with both refusals, as a real container does", async () => {
      const refused = await resolvePrivilege(BUSYBOX_IMAGE, daemon.id, { firstGuess: [], candidates: [] });
      assert.ok(!refused.ok, JSON.stringify(refused));
      assert.deepEqual(refused.fallback?.drop, []);
      const message = new PrivilegedRefusedError("k8s", BUSYBOX_IMAGE, refused).message;
      console.log(`  (refusal as users see it)\n${message}`);
      assert.match(message, /^service "k8s" \(k3sbox-test-busybox:1\) needs a privileged container \(privileged: true\), but this Docker host refuses privileged containers:\n/);
      assert.match(message, /\n {2}--privileged: .*unable to apply caps/);
      assert.match(message, /\n {2}the fallback \(all capabilities, unconfined seccomp\/AppArmor\/system paths, all devices, writable cgroups\): .*unable to apply caps/);

      // The refused set really fails to start a container, with the reason the error quotes.
      const id = await createContainer({
        name: `k3sbox-test-priv-${runId}`,
        image: BUSYBOX_IMAGE,
        labels: { [LABEL]: runId },
        privilege: { mode: "capabilities", drop: [], kmsg: false },
        command: ["true"],
      });
      try {
        await assert.rejects(startContainer(id), (err: unknown) => {
          assert.ok(err instanceof DockerError, String(err));
          assert.match(err.message, /unable to apply caps/);
          return true;
        });
      } finally {
        await removeContainers([id]);
      }
    }, { timeoutMs: 60_000 });

    t("the resolution is cached per process and daemon", async () => {
      const a = await resolvePrivilege(BUSYBOX_IMAGE, daemon.id);
      assert.equal(await resolvePrivilege(BUSYBOX_IMAGE, daemon.id), a, "same daemon: the same answer, no new probes");
      // Another daemon id (the same engine under another name) gets its own search, with the same outcome here.
      const other = await resolvePrivilege(BUSYBOX_IMAGE, `${daemon.id}-other-${runId}`);
      assert.notEqual(other, a);
      assert.deepEqual(other, a);
    }, { timeoutMs: 60_000 });
  });
}
