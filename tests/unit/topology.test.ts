// The topology decision (lib/docker/topology.ts) from its inputs: pure, no Docker.

import assert from "node:assert/strict";
import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "../harness.ts";
import {
  activeContext,
  decideTopology,
  ownContainerCandidates,
  parseEndpoint,
  parseHostOverride,
  TopologyError,
  validHost,
} from "../../lib/docker/topology.ts";
import { expandServiceToken, hostPortOf, REACH_HOSTS_TOKEN } from "../../lib/service.ts";

const ID = "a".repeat(64);

test("topology: a local socket and no container → 127.0.0.1, published on 127.0.0.1 only", () => {
  const t = decideTopology({});
  assert.equal(t.kind, "local");
  assert.equal(t.mode, "published");
  assert.equal(t.dialHost, "127.0.0.1");
  assert.equal(t.publishHost, "127.0.0.1");
  assert.deepEqual(t.tlsSans, ["127.0.0.1"]);
  assert.match(t.reason, /unix:\/\/\/var\/run\/docker\.sock.*127\.0\.0\.1 only/);
});

test("topology: /.dockerenv alone (no container the daemon knows) stays local, and says why", () => {
  const t = decideTopology({ containerHint: "/.dockerenv exists" });
  assert.equal(t.kind, "local");
  assert.match(t.reason, /\/\.dockerenv exists, but the daemon knows no such container/);
});

test("topology: DOCKER_HOST=tcp://<ip>:2375 → that host, published on it and no wider, in the certificate", () => {
  const t = decideTopology({ dockerHost: "tcp://172.18.0.2:2375" });
  assert.equal(t.kind, "tcp");
  assert.equal(t.dialHost, "172.18.0.2");
  assert.equal(t.publishHost, "172.18.0.2");
  assert.deepEqual(t.tlsSans, ["172.18.0.2"]);
  assert.match(t.reason, /DOCKER_HOST is tcp:\/\/172\.18\.0\.2:2375/);
});

test("topology: a tcp:// host name is dialled by name, published on its address, both in the certificate", () => {
  const t = decideTopology({ dockerHost: "tcp://dind.test:2376", resolved: { "dind.test": ["fd00::5", "10.1.2.3"] } });
  assert.equal(t.dialHost, "dind.test");
  assert.equal(t.publishHost, "10.1.2.3"); // IPv4 first
  assert.deepEqual(t.tlsSans, ["dind.test", "10.1.2.3"]);
  assert.throws(() => decideTopology({ dockerHost: "tcp://nowhere.test:2376", resolved: { "nowhere.test": [] } }), (e) =>
    e instanceof TopologyError && /nowhere\.test does not resolve/.test(e.message) && /K3SBOX_HOST/.test(e.message));
});

test("topology: tcp://127.0.0.1 or localhost is the local daemon", () => {
  assert.equal(decideTopology({ dockerHost: "tcp://127.0.0.1:2375" }).kind, "local");
  assert.equal(decideTopology({ dockerHost: "tcp://localhost:2375" }).dialHost, "127.0.0.1");
});

test("topology: the active context's endpoint counts when DOCKER_HOST is unset; DOCKER_HOST wins", () => {
  const ctx = { name: "dind", endpoint: "tcp://10.9.8.7:2376" };
  const t = decideTopology({ context: ctx });
  assert.equal(t.kind, "tcp");
  assert.equal(t.dialHost, "10.9.8.7");
  assert.match(t.reason, /the active Docker context "dind"/);
  assert.equal(decideTopology({ context: ctx, dockerHost: "unix:///run/docker.sock" }).kind, "local");
});

test("topology: ssh:// publishes on the remote loopback only and forwards", () => {
  const t = decideTopology({ dockerHost: "ssh://me@build.test:2222" });
  assert.equal(t.kind, "ssh");
  assert.equal(t.publishHost, "127.0.0.1");
  assert.equal(t.sshDestination, "me@build.test:2222");
});

test("topology: a process in a container of the daemon (own network namespace) joins the environment's network", () => {
  const own = { id: ID, name: "ci-job", networkMode: "bridge", networks: { bridge: { ip: "172.17.0.4", gateway: "172.17.0.1" } } };
  const t = decideTopology({ ownContainer: own });
  assert.equal(t.kind, "container");
  assert.equal(t.mode, "network");
  assert.equal(t.ownContainer, ID);
  assert.equal(t.publishHost, "127.0.0.1");
  assert.match(t.reason, /container ci-job \(aaaaaaaaaaaa\)/);
  // --network host shares the daemon host's loopback.
  assert.equal(decideTopology({ ownContainer: { ...own, networkMode: "host" } }).kind, "local");
});

test("topology: K3SBOX_HOST / the host option override everything, publish address optional", () => {
  const own = { id: ID, name: "x", networkMode: "bridge", networks: {} };
  const t = decideTopology({ dockerHost: "tcp://10.0.0.1:2375", ownContainer: own, override: { dial: "192.168.5.5", source: "K3SBOX_HOST" } });
  assert.equal(t.kind, "override");
  assert.equal(t.dialHost, "192.168.5.5");
  assert.equal(t.publishHost, "192.168.5.5");
  const split = decideTopology({ override: parseHostOverride("gw.test,10.0.0.9", "K3SBOX_HOST") });
  assert.equal(split.dialHost, "gw.test");
  assert.equal(split.publishHost, "10.0.0.9");
  assert.deepEqual(split.tlsSans, ["gw.test", "10.0.0.9"]);
  assert.throws(() => decideTopology({ override: { dial: "$(reboot)", source: "K3SBOX_HOST" } }), /K3SBOX_HOST: "\$\(reboot\)" is not a host name or IP address/);
  assert.throws(() => parseHostOverride("a,b,c", "K3SBOX_HOST"), /K3SBOX_HOST: expected a host/);
});

test("topology: endpoints parse; hosts are IPs or DNS names only (safe in a shell word and a certificate)", () => {
  assert.deepEqual(parseEndpoint("tcp://[fd00::1]:2376"), { scheme: "tcp", host: "fd00::1", port: "2376", user: undefined });
  assert.deepEqual(parseEndpoint("unix:///var/run/docker.sock"), { scheme: "unix", host: "" });
  assert.throws(() => parseEndpoint("docker.sock"), /not a URL/);
  assert.throws(() => parseEndpoint("tcp://a b:1"), /not a host name/);
  for (const ok of ["10.0.0.1", "::1", "dind", "a-b.example.test"]) assert.ok(validHost(ok), ok);
  for (const bad of ["", "-x", "a b", "a;b", "$(x)", "a..b", "x/y"]) assert.ok(!validHost(bad), bad);
});

test("topology: own-container candidates come from mounts and cgroups, not /.dockerenv", () => {
  const mountinfo = `612 590 0:26 /var/lib/docker/containers/${ID}/resolv.conf /etc/resolv.conf rw - ext4 /dev/vda rw\n` +
    `1 0 0:1 / / rw - overlay overlay rw\n`;
  assert.deepEqual(ownContainerCandidates(mountinfo, ""), [ID]);
  const pod = "b".repeat(64);
  assert.deepEqual(ownContainerCandidates(`5 1 0:2 /containers/storage/overlay-containers/${pod}/userdata/hostname /etc/hostname rw - tmpfs t rw\n`, ""), [pod]);
  assert.deepEqual(ownContainerCandidates("", `12:pids:/docker/${ID}\n`), [ID]);
  assert.deepEqual(ownContainerCandidates("1 0 0:1 / / rw - ext4 /dev/vda rw\n", "0::/\n"), []);
  // A Docker host's own mount table lists every container's shm mount: not this process's container.
  assert.deepEqual(ownContainerCandidates(`880 29 0:94 / /var/lib/docker/containers/${ID}/mounts/shm rw,nosuid - tmpfs shm rw\n`, ""), []);
});

test("topology: the active context is read from the CLI's files (DOCKER_CONTEXT, else currentContext)", async () => {
  const dir = await mkdtemp(join(tmpdir(), "k3sbox-ctx-"));
  try {
    const meta = join(dir, "contexts", "meta", createHash("sha256").update("remote").digest("hex"));
    await mkdir(meta, { recursive: true });
    await writeFile(join(meta, "meta.json"), JSON.stringify({ Name: "remote", Endpoints: { docker: { Host: "tcp://10.2.3.4:2376" } } }));
    await writeFile(join(dir, "config.json"), JSON.stringify({ currentContext: "remote" }));
    assert.deepEqual(await activeContext({ DOCKER_CONFIG: dir }), { name: "remote", endpoint: "tcp://10.2.3.4:2376" });
    assert.equal(await activeContext({ DOCKER_CONFIG: dir, DOCKER_CONTEXT: "default" }), undefined);
    await assert.rejects(activeContext({ DOCKER_CONFIG: dir, DOCKER_CONTEXT: "gone" }), /context "gone".*docker context ls/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("reach-hosts token: expanded comma-joined where the runner expands {{SERVICE}}; IPv6 in brackets for URLs", () => {
  assert.equal(expandServiceToken(`--tls-san=${REACH_HOSTS_TOKEN}`, "k8s", ["10.0.0.2", "dind"]), "--tls-san=10.0.0.2,dind");
  assert.equal(expandServiceToken(`--tls-san=${REACH_HOSTS_TOKEN}`, "k8s"), `--tls-san=${REACH_HOSTS_TOKEN}`);
  assert.equal(hostPortOf("fd00::1", 6443), "[fd00::1]:6443");
  assert.equal(hostPortOf("10.0.0.2", 6443), "10.0.0.2:6443");
});

test("ssh forward: destinations become ssh argv safely (port flag, `--` before the host, no option injection)", async () => {
  const { sshDestinationArgs } = await import("../../lib/docker/ssh-forward.ts");
  assert.deepEqual(sshDestinationArgs("me@build.test:2222"), ["-p", "2222", "--", "me@build.test"]);
  assert.deepEqual(sshDestinationArgs("build.test"), ["--", "build.test"]);
  assert.deepEqual(sshDestinationArgs("root@[fd00::1]:22"), ["-p", "22", "--", "root@fd00::1"]);
  assert.throws(() => sshDestinationArgs("-oProxyCommand=x@h"), /may not start with "-"|is not user@host/);
  assert.throws(() => sshDestinationArgs("a b"), /is not user@host/);
});

test("reach: listening sockets parse from /proc/net/tcp and tcp6 text (addresses in kernel byte order)", async () => {
  const { listeningSockets } = await import("../../lib/runner/reach.ts");
  const tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
    "   0: 0100007F:8CA1 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n" +
    "   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1\n" +
    "   2: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1 0 100 0 0 10 0\n";
  const tcp6 = "  sl  local_address                         remote_address                        st\n" +
    "   0: 00000000000000000000000000000000:1A0B 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 4 1\n" +
    "   1: 0000000000000000FFFF00000100007F:2328 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 5 1\n";
  assert.deepEqual(listeningSockets(tcp), ["127.0.0.1:36001", "0.0.0.0:2024"]); // the established one is not listed
  assert.deepEqual(listeningSockets(tcp6), [":::6667", "127.0.0.1:9000"]); // a v4-mapped address reads as v4
});
