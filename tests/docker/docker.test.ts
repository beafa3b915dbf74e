// lib/docker.ts against the real engine, with a busybox image built locally.
//
// Everything a case creates carries this run's label plus a per-case label;
// each case removes its own objects, and the suite's teardown sweeps the run
// label in case a case died half-way.

import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { skip, suite, test } from "../harness.ts";
import {
  copyInto,
  createContainer,
  createNetwork,
  docker,
  DockerError,
  dockerInfo,
  DockerArgumentError,
  DockerUnavailableError,
  execIn,
  imageExists,
  ImagePullError,
  inspectContainer,
  listByLabel,
  logsTail,
  type Privilege,
  probeCapabilities,
  probePrivilege,
  pullImage,
  removeContainers,
  removeNetworks,
  startContainer,
  WaitCancelledError,
  waitExit,
} from "../../lib/docker.ts";
import { archiveOf } from "../../lib/docker/archive.ts";
import { eventually } from "../support/eventually.ts";
import { ensureBusyboxImage } from "../support/images.ts";

const RUN_LABEL = "k3sbox.test.run";
const CASE_LABEL = "k3sbox.test.case";
const runId = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

interface Fixture {
  image: string;
}

/** One case's namespace: unique names, labels, and cleanup of what it made. */
class Case {
  static #n = 0;
  readonly id = `${runId}-${++Case.#n}`;
  readonly labels = { [RUN_LABEL]: runId, [CASE_LABEL]: this.id };
  readonly filter = `${CASE_LABEL}=${this.id}`;
  name(suffix: string): string {
    return `k3sbox-test-${this.id}-${suffix}`;
  }
  async cleanup(): Promise<void> {
    const containers = await listByLabel("container", [this.filter]);
    await removeContainers(containers.map((c) => c.id));
    const networks = await listByLabel("network", [this.filter]);
    await removeNetworks(networks.map((n) => n.id));
  }
}

async function withCase(body: (c: Case) => Promise<void>): Promise<void> {
  const c = new Case();
  try {
    await body(c);
  } finally {
    await c.cleanup();
  }
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as BufferSource));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

// These need no engine: they make Docker unusable on purpose.

test("docker: a missing CLI becomes DockerUnavailableError with an install hint", async () => {
  await assert.rejects(docker(["version"], { cli: "/nonexistent/k3sbox/docker" }), (err: unknown) => {
    assert.ok(err instanceof DockerUnavailableError, String(err));
    assert.equal(err.reason, "cli-missing");
    assert.match(err.message, /docker CLI is not installed or not on PATH/);
    assert.match(err.message, /apt-get install docker\.io/);
    return true;
  });
});

test("docker: an unreachable daemon becomes DockerUnavailableError saying how to start it", async () => {
  const env = { DOCKER_HOST: "unix:///nonexistent/k3sbox-docker.sock" };
  await assert.rejects(dockerInfo({ env }), (err: unknown) => {
    assert.ok(err instanceof DockerUnavailableError, String(err));
    assert.equal(err.reason, "daemon-unreachable");
    assert.match(err.message, /Docker daemon is not reachable \(.*nonexistent\/k3sbox-docker\.sock.*\)/);
    assert.match(err.message, /dockerd &/);
    assert.match(err.message, /systemctl start docker/);
    assert.match(err.message, /DOCKER_HOST/);
    return true;
  });
  // Every helper, not just dockerInfo, reports it the same way.
  await assert.rejects(docker(["ps"], { env }), DockerUnavailableError);
});

let unavailable: string | undefined;
try {
  await dockerInfo();
} catch (err) {
  unavailable = (err as Error).message;
}

if (unavailable) {
  skip("docker: engine tests", unavailable);
} else {
  suite<Fixture>("docker", {
    setup: async () => ({ image: await ensureBusyboxImage() }),
    teardown: async () => {
      const containers = await listByLabel("container", [`${RUN_LABEL}=${runId}`]);
      await removeContainers(containers.map((c) => c.id));
      const networks = await listByLabel("network", [`${RUN_LABEL}=${runId}`]);
      await removeNetworks(networks.map((n) => n.id));
    },
  }, (it) => {
    it("dockerInfo reports the server version", async () => {
      const info = await dockerInfo();
      assert.match(info.serverVersion, /^\d+\.\d+/);
      assert.equal(info.os.length > 0, true);
      assert.match(info.cgroupVersion, /^[12]$/);
    });

    it("imageExists tells local images from missing ones", async ({ image }) => {
      assert.equal(await imageExists(image), true);
      assert.equal(await imageExists("k3sbox-test-nonexistent:0"), false);
    });

    it("network create/list/remove with labels", () =>
      withCase(async (c) => {
        const before = Date.now();
        const name = c.name("net");
        const id = await createNetwork(name, { ...c.labels, "k3sbox.test.note": "a=b, c d" });
        assert.match(id, /^[0-9a-f]{64}$/);
        const found = await listByLabel("network", [c.filter]);
        assert.equal(found.length, 1);
        assert.equal(found[0].id, id);
        assert.equal(found[0].name, name);
        assert.equal(found[0].labels["k3sbox.test.note"], "a=b, c d", "label values survive verbatim");
        assert.ok(Math.abs(found[0].createdAt.getTime() - before) < 60_000, `createdAt ${found[0].createdAt.toISOString()}`);
        await removeNetworks([name]);
        assert.deepEqual(await listByLabel("network", [c.filter]), []);
        await removeNetworks([name, id]); // gone already: no error
      }));

    it("create+start with network aliases, labels, env, tmpfs, publish; the host port answers", ({ image }) =>
      withCase(async (c) => {
        const net = c.name("net");
        await createNetwork(net, c.labels);
        const name = c.name("web");
        const tricky = "hello world; $(touch /pwned) `id` 'q' \"dq\" * \n second line";
        const id = await createContainer({
          name,
          image,
          network: net,
          aliases: ["web", "web.k3sbox.test"],
          labels: { ...c.labels, "k3sbox.role": "httpd" },
          env: { GREETING: tricky },
          tmpfs: ["/scratch:rw,size=1m"],
          cgroupns: "private",
          publish: [8080],
          command: ["httpd", "-f", "-p", "8080", "-h", "/www"],
        });
        assert.match(id, /^[0-9a-f]{64}$/);
        const page = `<h1>k3sbox ${c.id}</h1>\n`;
        await copyInto(id, await archiveOf([{ path: "/www/index.html", content: page }])); // /www does not exist yet
        const created = await inspectContainer(id);
        assert.equal(created.state.status, "created");
        assert.equal(created.state.startedAt, null);
        await startContainer(id);

        const info = await inspectContainer(name);
        assert.equal(info.id, id);
        assert.equal(info.name, name);
        assert.equal(info.image, image);
        assert.equal(info.state.status, "running");
        assert.equal(info.state.running, true);
        assert.ok(info.state.startedAt instanceof Date);
        assert.equal(info.state.finishedAt, null);
        assert.equal(info.labels["k3sbox.role"], "httpd");
        assert.equal(info.labels[CASE_LABEL], c.id);
        assert.ok(info.networks[net], `attached to ${net}: ${JSON.stringify(info.networks)}`);
        assert.match(info.networks[net].ip, /^\d+\.\d+\.\d+\.\d+$/);
        assert.ok(info.networks[net].aliases.includes("web"));
        assert.ok(info.networks[net].aliases.includes("web.k3sbox.test"));
        const hostPort = info.ports[8080];
        assert.ok(Number.isInteger(hostPort) && hostPort > 0, `published port: ${JSON.stringify(info.ports)}`);

        const body = await eventually("httpd answering on the published port", async () => {
          const res = await fetch(`http://127.0.0.1:${hostPort}/`);
          const text = await res.text();
          return res.status === 200 ? text : undefined;
        });
        assert.equal(body, page);

        // env values reach the process verbatim: no shell interpreted them.
        const env = await execIn(id, ["sh", "-c", 'printf %s "$GREETING"']);
        assert.equal(env.stdout, tricky);
        assert.equal((await execIn(id, ["ls", "/pwned"])).code !== 0, true);
        // tmpfs mount
        const mounts = await execIn(id, ["cat", "/proc/mounts"]);
        assert.match(mounts.stdout, /^tmpfs \/scratch tmpfs /m);
        // aliases resolve on the network
        const viaAlias = await execIn(id, ["wget", "-q", "-O", "-", "http://web.k3sbox.test:8080/"]);
        assert.equal(viaAlias.stdout, page, viaAlias.stderr);
      }), { timeoutMs: 60_000 });

    it("copyInto keeps 0600, creates parent dirs, works before and after start", ({ image }) =>
      withCase(async (c) => {
        const id = await createContainer({ name: c.name("cp"), image, labels: c.labels, command: ["sleep", "600"] });
        const binary = Uint8Array.from({ length: 3000 }, (_, i) => (i * 7) % 256);
        await copyInto(id, await archiveOf([
          { path: "/etc/rancher/k3s/k3s.yaml", content: "kube: config\n", mode: 0o600 },
          { path: "/var/lib/k3sbox/deep/er/still/blob.bin", content: binary, mode: 0o640 },
        ]));
        await startContainer(id);
        await copyInto(id, await archiveOf([{ path: "later/run.sh", content: "#!/bin/sh\necho ran\n", mode: 0o755 }]), "/tmp");
        const stat = async (path: string) => (await execIn(id, ["stat", "-c", "%a %u:%g %F", path])).stdout.trim();
        assert.equal(await stat("/etc/rancher/k3s/k3s.yaml"), "600 0:0 regular file");
        assert.equal(await stat("/etc/rancher/k3s"), "755 0:0 directory", "missing parents are created 0755");
        assert.equal(await stat("/etc/rancher"), "755 0:0 directory");
        assert.equal(await stat("/var/lib/k3sbox/deep/er/still/blob.bin"), "640 0:0 regular file");
        assert.equal(await stat("/tmp/later/run.sh"), "755 0:0 regular file");
        assert.equal((await execIn(id, ["cat", "/etc/rancher/k3s/k3s.yaml"])).stdout, "kube: config\n");
        const sum = await execIn(id, ["sha256sum", "/var/lib/k3sbox/deep/er/still/blob.bin"]);
        assert.equal(sum.stdout.split(" ")[0], await sha256(binary));
        assert.equal((await execIn(id, ["/tmp/later/run.sh"])).stdout, "ran\n");
        // A destination directory that does not exist is Docker's error, surfaced as DockerError.
        await assert.rejects(copyInto(id, await archiveOf([{ path: "x", content: "" }]), "/no/such/dir"), (err: unknown) => {
          assert.ok(err instanceof DockerError, String(err));
          assert.match(err.message, /^docker cp: /);
          return true;
        });
      }), { timeoutMs: 60_000 });

    it("execIn returns exit codes and output without throwing", ({ image }) =>
      withCase(async (c) => {
        const id = await createContainer({ name: c.name("exec"), image, labels: c.labels, command: ["sleep", "600"] });
        await startContainer(id);
        const r = await execIn(id, ["sh", "-c", "echo out; echo err >&2; exit 3"]);
        assert.deepEqual(r, { code: 3, stdout: "out\n", stderr: "err\n" });
        assert.equal((await execIn(id, ["true"])).code, 0);
        const missing = await execIn(id, ["/no/such/binary"]);
        assert.ok(missing.code === 126 || missing.code === 127, `code ${missing.code}`);
        assert.match(missing.stderr, /no such file|not found/i);
        assert.equal(missing.stdout, "");
        // An argument that looks like a flag is just an argument.
        assert.equal((await execIn(id, ["echo", "--help", "-rf", "$(id)"])).stdout, "--help -rf $(id)\n");
        assert.equal((await execIn(id, ["cat"], { stdin: "piped in\n" })).stdout, "piped in\n");
        assert.equal((await execIn(id, ["sh", "-c", 'echo "$X"'], { env: { X: "y" } })).stdout, "y\n");
        // Docker's own failures do throw.
        await assert.rejects(execIn(c.name("nope"), ["true"]), (err: unknown) => {
          assert.ok(err instanceof DockerError && err.notFound, String(err));
          assert.match(err.message, /^docker exec: .*No such container/);
          return true;
        });
        await removeContainers([id]);
        await assert.rejects(execIn(id, ["true"]), DockerError);
      }), { timeoutMs: 60_000 });

    it("waitExit resolves with the exit code; logsTail merges stdout and stderr", ({ image }) =>
      withCase(async (c) => {
        const id = await createContainer({
          name: c.name("wait"),
          image,
          labels: c.labels,
          entrypoint: "sh",
          command: ["-c", "for i in 1 2 3 4 5; do echo line$i; done; sleep 0.2; echo oops >&2; sleep 0.2; echo last; sleep 1; exit 42"],
        });
        await startContainer(id);
        const started = Date.now();
        const handle = waitExit(id);
        assert.equal(await handle.exited, 42);
        assert.ok(Date.now() - started >= 800, "resolved when the container exited, not before");
        handle.cancel(); // after exit: harmless
        const state = (await inspectContainer(id)).state;
        assert.equal(state.running, false);
        assert.equal(state.status, "exited");
        assert.equal(state.exitCode, 42);
        assert.ok(state.finishedAt instanceof Date);
        assert.equal(await logsTail(id), "line1\nline2\nline3\nline4\nline5\noops\nlast\n");
        assert.equal(await logsTail(id, 2), "oops\nlast\n");
        assert.equal(await logsTail(id, 0), "");
        // An already-exited container resolves at once.
        assert.equal(await waitExit(id).exited, 42);
      }), { timeoutMs: 60_000 });

    it("waitExit cancel kills the docker wait and rejects with WaitCancelledError", ({ image }) =>
      withCase(async (c) => {
        const id = await createContainer({ name: c.name("cancel"), image, labels: c.labels, command: ["sleep", "600"] });
        await startContainer(id);
        const handle = waitExit(id);
        await new Promise((r) => setTimeout(r, 300));
        const t0 = Date.now();
        handle.cancel();
        handle.cancel();
        await assert.rejects(handle.exited, WaitCancelledError);
        assert.ok(Date.now() - t0 < 2_000);
        assert.equal((await inspectContainer(id)).state.running, true, "cancel does not touch the container");
        await assert.rejects(waitExit(c.name("nope")).exited, (err: unknown) => err instanceof DockerError && err.notFound);
      }), { timeoutMs: 30_000 });

    it("listByLabel finds exactly what was created", ({ image }) =>
      withCase(async (c) => {
        const a = await createContainer({ name: c.name("a"), image, labels: { ...c.labels, tier: "x" } });
        const b = await createContainer({ name: c.name("b"), image, labels: { ...c.labels, tier: "y" } });
        const net = await createNetwork(c.name("n"), c.labels);
        const other = new Case(); // same run, another case: must not show up
        try {
          await createContainer({ name: other.name("z"), image, labels: other.labels });
          const all = await listByLabel("container", [c.filter]);
          assert.deepEqual(all.map((o) => o.id).sort(), [a, b].sort());
          assert.deepEqual(all.map((o) => o.name).sort(), [c.name("a"), c.name("b")].sort());
          assert.ok(all.every((o) => o.createdAt instanceof Date && !Number.isNaN(o.createdAt.getTime())));
          assert.ok(all.every((o) => Math.abs(o.createdAt.getTime() - Date.now()) < 120_000), "createdAt is the creation time");
          assert.deepEqual(all.map((o) => o.state), ["created", "created"], "the state comes with the listing");
          const onlyX = await listByLabel("container", [c.filter, "tier=x"]);
          assert.deepEqual(onlyX.map((o) => o.id), [a]);
          assert.equal(onlyX[0].labels.tier, "x");
          assert.equal(onlyX[0].labels[CASE_LABEL], c.id);
          // Listed with `docker ps`, which joins labels with commas: values keep their commas and '='.
          const odd = await createContainer({ name: c.name("odd"), image, labels: { ...c.labels, "k3sbox.test.note": "a=b, c d", "k3sbox.test.trap": "x,k3sbox.test.note=forged" } });
          const [listed] = await listByLabel("container", [c.filter, "k3sbox.test.note"]);
          assert.equal(listed.id, odd);
          assert.equal(listed.labels["k3sbox.test.note"], "a=b, c d", "a filter key's value is read exactly");
          assert.deepEqual((await listByLabel("container", [c.filter, "tier"])).length, 2, "key-only filter");
          assert.deepEqual((await listByLabel("container", [c.filter])).length, 3);
          assert.deepEqual((await listByLabel("network", [c.filter])).map((o) => o.id), [net]);
          assert.deepEqual(await listByLabel("container", [`${CASE_LABEL}=${c.id}-none`]), []);
          await assert.rejects(listByLabel("container", []), /needs at least one label filter/);
        } finally {
          await other.cleanup();
        }
      }), { timeoutMs: 30_000 });

    it("removeContainers is idempotent and tolerates missing ones", ({ image }) =>
      withCase(async (c) => {
        const running = await createContainer({ name: c.name("r"), image, labels: c.labels, command: ["sleep", "600"] });
        await startContainer(running);
        const created = await createContainer({ name: c.name("c"), image, labels: c.labels });
        await removeContainers([running, c.name("never-existed"), created]);
        assert.deepEqual(await listByLabel("container", [c.filter]), []);
        await removeContainers([running, created]);
        await removeContainers([]);
        await assert.rejects(inspectContainer(running), (err: unknown) => err instanceof DockerError && err.notFound);
      }), { timeoutMs: 30_000 });

    it("probePrivilege predicts whether Docker starts a container with --privileged or with its capability fallback", ({ image }) =>
      withCase(async (c) => {
        const modes: [string, Privilege][] = [
          ["full", { mode: "full" }],
          ["fallback", { mode: "capabilities", drop: ["SYS_RESOURCE"], kmsg: false }],
        ];
        for (const [what, privilege] of modes) {
          const probe = await probePrivilege(image, privilege);
          console.log(`probePrivilege ${what}: started=${probe.started} detail: ${probe.detail}`);
          if (probe.started) assert.match(probe.detail, /k3sbox-probe-nonexistent.*(executable file not found|no such file)/i);
          else assert.ok(probe.capabilityRefused, `a refusal here is a capability refusal: ${probe.detail}`);
          // The probe leaves nothing behind (other processes' probes carry their own pid).
          await eventually("no probe containers left", async () => {
            const left = await listByLabel("container", ["k3sbox.probe=privileged", `k3sbox.probe.pid=${process.pid}`]);
            if (left.length > 0) throw new Error(`still there: ${left.map((o) => o.name).join(", ")}`);
            return true;
          });

          // The probe predicts what a real container with the same privileges does.
          const id = await createContainer({ name: c.name(what), image, labels: c.labels, privilege, cgroupns: "host", command: ["true"] });
          if (probe.started) {
            await startContainer(id);
          } else {
            await assert.rejects(startContainer(id), (err: unknown) => {
              assert.ok(err instanceof DockerError, String(err));
              assert.match(err.message, /^docker start: .*unable to apply caps/);
              return true;
            });
          }
        }
        // A capability this Docker may not know (added in Linux 5.9) is classified, not mistaken for an error.
        const recent = await probeCapabilities(image, ["CHECKPOINT_RESTORE"]);
        console.log(`probeCapabilities CHECKPOINT_RESTORE: ${JSON.stringify(recent)}`);
        assert.equal([recent.started, recent.capabilityRefused, recent.unknownCapability].filter(Boolean).length, 1, recent.detail);
        await assert.rejects(probeCapabilities(image, ["CHOWN", "NOT_A_CAP"]), /invalid capability "NOT_A_CAP"/);
      }), { timeoutMs: 60_000 });

    it("DockerError names the subcommand and Docker's reason", ({ image }) =>
      withCase(async (c) => {
        await assert.rejects(
          createContainer({ name: c.name("badimg"), image: "k3sbox-test-nonexistent:0", labels: c.labels }),
          (err: unknown) => {
            assert.ok(err instanceof DockerError, String(err));
            assert.match(err.message, /^docker create: .*No such image: k3sbox-test-nonexistent:0/);
            assert.notEqual(err.code, 0);
            assert.equal(err.args[0], "create");
            assert.equal(err.notFound, true);
            return true;
          },
        );
        const id = await createContainer({ name: c.name("badcmd"), image, labels: c.labels, command: ["/no/such/cmd"] });
        await assert.rejects(startContainer(id), (err: unknown) => {
          assert.ok(err instanceof DockerError, String(err));
          assert.match(err.message, /^docker start: .*no such file or directory/);
          assert.doesNotMatch(err.message, /--help/);
          return true;
        });
        await assert.rejects(docker(["network", "create", "--no-such-flag", "x"]), /^DockerError: docker network create: unknown flag: --no-such-flag/);
        // A pull from a closed local port: fails at once, no registry involved.
        await assert.rejects(pullImage("127.0.0.1:1/k3sbox-test-nothing:1"), (err: unknown) => {
          assert.ok(err instanceof ImagePullError && err instanceof DockerError, String(err));
          assert.equal(err.ref, "127.0.0.1:1/k3sbox-test-nothing:1");
          assert.match(err.message, /^docker pull 127\.0\.0\.1:1\/k3sbox-test-nothing:1: /);
          assert.match(err.stderr, /connection refused/);
          return true;
        });
        // Build progress and the legacy-builder deprecation notice are not the reason.
        const context = await mkdtemp(join(tmpdir(), "k3sbox-test-build-"));
        try {
          await writeFile(join(context, "Dockerfile"), "FROM scratch\nCOPY not-there /x\n");
          await assert.rejects(docker(["build", "--quiet", context]), (err: unknown) => {
            assert.ok(err instanceof DockerError, String(err));
            assert.match(err.message, /^docker build: COPY failed: .*not-there/);
            return true;
          });
        } finally {
          await rm(context, { recursive: true, force: true });
        }
        // An existing name is a conflict, not a silent reuse.
        await assert.rejects(
          createContainer({ name: c.name("badcmd"), image, labels: c.labels }),
          /^DockerError: docker create: .*(Conflict|already in use)/,
        );
      }), { timeoutMs: 30_000 });

    it("names and arguments are validated before Docker sees them", async ({ image }) => {
      const nameRule = /Docker names must match \[a-zA-Z0-9\]\[a-zA-Z0-9_\.-\]\*/;
      for (const bad of ["-rf", "--privileged", "has space", "../x", "", "_x", ".x", "a/b", "a;b", "ä"]) {
        await assert.rejects(createContainer({ name: bad, image }), (err: unknown) => {
          assert.ok(err instanceof DockerArgumentError, `${JSON.stringify(bad)}: ${err}`);
          assert.ok(err.message.startsWith(`invalid container name ${JSON.stringify(bad)}: `), err.message);
          assert.match(err.message, nameRule);
          return true;
        });
      }
      await assert.rejects(createNetwork("-d"), /^DockerArgumentError: invalid network name "-d"/);
      await assert.rejects(removeContainers(["ok", "--all"]), /invalid container "--all"/);
      await assert.rejects(removeNetworks(["--force"]), /invalid network name "--force"/);
      await assert.rejects(execIn("-it", ["sh"]), /invalid container "-it"/);
      await assert.rejects(inspectContainer("x y"), DockerArgumentError);
      await assert.rejects(createContainer({ name: "ok", image: "--privileged" }), /invalid image reference "--privileged"/);
      await assert.rejects(
        createContainer({ name: "ok", image, privilege: { mode: "capabilities", drop: ["SYS_ADMIN --privileged"], kmsg: false } }),
        /invalid capability "SYS_ADMIN --privileged"/,
      );
      await assert.rejects(createContainer({ name: "ok", image, network: "-x" }), /invalid network name "-x"/);
      await assert.rejects(createContainer({ name: "ok", image, network: "n", aliases: ["-a"] }), /invalid network alias "-a"/);
      await assert.rejects(createContainer({ name: "ok", image, aliases: ["a"] }), /aliases need `network`/);
      await assert.rejects(createContainer({ name: "ok", image, labels: { "a=b": "c" } }), /invalid label "a=b"/);
      await assert.rejects(createContainer({ name: "ok", image, env: { "": "c" } }), /invalid environment variable ""/);
      await assert.rejects(createContainer({ name: "ok", image, tmpfs: ["run"] }), /invalid tmpfs mount "run"/);
      await assert.rejects(createContainer({ name: "ok", image, publish: [0] }), /invalid port "0"/);
      await assert.rejects(createContainer({ name: "ok", image, publish: [70000] }), /invalid port "70000"/);
      await assert.rejects(copyInto("ok", new Uint8Array(1024), "relative"), /must be an absolute path/);
      // None of the above reached Docker.
      await assert.rejects(inspectContainer("ok"), (err: unknown) => err instanceof DockerError && err.notFound);
    });
  });
}
