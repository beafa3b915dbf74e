import assert from "node:assert/strict";
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "../harness.ts";
import { cacheMount, cacheVolumeName, describeSupply, ImageSupplyError } from "../../lib/images/cache.ts";
import { parseImageRefs } from "../../lib/images/system-images.ts";
import { disabledComponents, linkCachedImagesScript, setupImages } from "../../lib/k3s/node-images.ts";
import { k3sStartupScript } from "../../lib/k3s/command.ts";
import { resolveK3sOptions } from "../../lib/k3s/options.ts";
import { mountArgs } from "../../lib/docker.ts";
import { ImagePullError } from "../../lib/docker.ts";
import { run } from "../../lib/exec.ts";
import { DOCKER_HUB_UPSTREAM, mirrorEndpoint } from "../../lib/images/mirror.ts";
import { buildRegistriesYaml } from "../../lib/k3s/registries.ts";
import { parseYaml } from "../../deps.ts";

// What real k3s stages (YAML, a placeholder it substitutes, a nested helper pod
// template in a ConfigMap) and what the test node stages (JSON documents, the
// helper pod as an escaped JSON string).
const K3S_STYLE = `
apiVersion: apps/v1
kind: Deployment
spec:
  template:
    spec:
      containers:
        - name: coredns
          image: "%{SYSTEM_DEFAULT_REGISTRY}%rancher/mirrored-coredns-coredns:1.12.0"
---
kind: ConfigMap
data:
  helperPod.yaml: |-
    spec:
      containers:
      - name: helper-pod
        image: rancher/mirrored-library-busybox:1.36.1
---
spec:
  containers:
  - image: 'docker.io/rancher/local-path-provisioner:v0.0.30'
    imagePullPolicy: IfNotPresent
`;
const TESTBED_STYLE = `{
  "kind": "ConfigMap",
  "data": { "helperPod.yaml": "{\\n  \\"spec\\": {\\n    \\"containers\\": [{\\"name\\": \\"helper-pod\\", \\"image\\": \\"rancher/mirrored-library-busybox:1.36.1\\"}]}}" }
}
---
{ "spec": { "containers": [ { "image": "rancher/local-path-provisioner:v0.0.30", "imagePullPolicy": "IfNotPresent" } ] } }`;

test("system images: parsed from k3s-style YAML manifests and containerd config v2", () => {
  const config = `[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "rancher/mirrored-pause:3.6"\n`;
  assert.deepEqual(parseImageRefs(config + K3S_STYLE), [
    "rancher/mirrored-pause:3.6",
    "rancher/mirrored-coredns-coredns:1.12.0",
    "rancher/mirrored-library-busybox:1.36.1",
    "docker.io/rancher/local-path-provisioner:v0.0.30",
  ]);
});

test("system images: parsed from JSON manifests with an escaped nested pod, and containerd config v3", () => {
  const config = `[plugins.'io.containerd.cri.v1.images'.pinned_images]\n    sandbox = "rancher/mirrored-pause:3.6"\n`;
  assert.deepEqual(parseImageRefs(config + TESTBED_STYLE), [
    "rancher/mirrored-pause:3.6",
    "rancher/mirrored-library-busybox:1.36.1",
    "rancher/local-path-provisioner:v0.0.30",
  ]);
});

test("system images: nothing that is not an image reference, each reference once", () => {
  assert.deepEqual(parseImageRefs(`image: ""\nimagePullPolicy: Always\nimage: UPPER/Case:1\nimage: a:1\nimage: a:1\n# image: {{ .Values.image }}`), ["a:1"]);
});

test("--disable in extraArgs: both spellings and comma lists", () => {
  assert.deepEqual([...disabledComponents(["--disable=coredns,local-storage", "--disable", "metrics-server", "--tls-san=x"])].sort(), [
    "coredns",
    "local-storage",
    "metrics-server",
  ]);
  assert.equal(disabledComponents([]).size, 0);
});

test("setup images follow the registry option", () => {
  assert.equal(setupImages(resolveK3sOptions({})).length, 2);
  assert.equal(setupImages(resolveK3sOptions({ registry: false })).length, 1);
});

test("cache volume names are valid Docker names, stable, and differ by reference and by id", () => {
  const a = cacheVolumeName("rancher/mirrored-pause:3.6", "sha256:aa");
  assert.match(a, /^k3sbox-image-[0-9a-f]{20}$/);
  assert.equal(a, cacheVolumeName("rancher/mirrored-pause:3.6", "sha256:aa"));
  assert.notEqual(a, cacheVolumeName("rancher/mirrored-pause:3.6", "sha256:bb"));
  assert.notEqual(a, cacheVolumeName("rancher/mirrored-pause:3.7", "sha256:aa"));
  const m = cacheMount({ ref: "x:1", id: "sha256:aa", volume: a });
  assert.deepEqual(mountArgs(m), ["--mount", `type=volume,source=${a},target=/var/lib/k3sbox/images/${a},readonly`]);
});

test("mount arguments refuse a target that could smuggle another mount option", () => {
  assert.throws(() => mountArgs({ volume: "v", target: "/a,source=/etc" }), /mount target.*absolute path without ','/);
  assert.throws(() => mountArgs({ volume: "v", target: "relative" }), /mount target/);
  assert.throws(() => mountArgs({ volume: "-v", target: "/x" }), /volume name/);
});

test("progress says which images came from where", () => {
  const line = describeSupply([
    { ref: "a:1", id: "1", volume: "v1", source: "cache", onDaemon: true },
    { ref: "b:1", id: "2", volume: "v2", source: "cache", onDaemon: false },
    { ref: "c:1", id: "3", volume: "v3", source: "network", onDaemon: true },
  ]);
  assert.equal(line, "node images: 2 from the cache (a:1, b:1); 1 pulled from the network (c:1)");
});

test("an image that cannot be had names the image, the registry's answer and the remedy (rate limit)", () => {
  const stderr = "Error response from daemon: toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading";
  const err = new ImageSupplyError("rancher/mirrored-pause:3.6", new ImagePullError("rancher/mirrored-pause:3.6", ["pull"], 1, stderr, false));
  assert.match(err.message, /image rancher\/mirrored-pause:3\.6 is not in k3sbox's image cache nor in Docker/);
  assert.match(err.message, /toomanyrequests: You have reached your pull rate limit/);
  assert.match(err.message, /docker login/);
  const offline = new ImageSupplyError("x:1", new ImagePullError("x:1", ["pull"], 1, "dial tcp: lookup registry-1.docker.io: no such host", false));
  assert.match(offline.message, /no such host/);
  assert.match(offline.message, /docker load.*k3sbox images warm/s);
});

test("the start script links every complete cached tarball into the airgap directory (real sh)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "k3sbox-link-"));
  try {
    const cache = join(dir, "cache");
    const airgap = join(dir, "agent", "images");
    for (const v of ["k3sbox-image-aaa", "k3sbox-image-bbb"]) {
      mkdirSync(join(cache, v), { recursive: true });
      writeFileSync(join(cache, v, "image.tar"), "tar");
    }
    mkdirSync(join(cache, "k3sbox-image-partial"), { recursive: true }); // still being written: no image.tar
    const r = await run("/bin/sh", ["-c", linkCachedImagesScript(cache, airgap)]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readdirSync(airgap).sort(), ["k3sbox-k3sbox-image-aaa.tar", "k3sbox-k3sbox-image-bbb.tar"]);
    const link = join(airgap, "k3sbox-k3sbox-image-aaa.tar");
    assert.ok(lstatSync(link).isSymbolicLink());
    assert.equal(readlinkSync(link), join(cache, "k3sbox-image-aaa", "image.tar"));
    // With nothing mounted the loop does nothing and the script goes on.
    const empty = await run("/bin/sh", ["-c", linkCachedImagesScript(join(dir, "none"), airgap) + " && echo next"]);
    assert.equal(empty.stdout.trim(), "next");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the k3s start script links the cache before it execs k3s", () => {
  const script = k3sStartupScript(resolveK3sOptions({}));
  assert.ok(script.indexOf("/var/lib/k3sbox/images/*/image.tar") < script.indexOf("exec k3s server"));
});

test("mirror option: off by default; true mirrors Docker Hub, ghcr.io, quay.io and registry.k8s.io; an upstream URL is checked and named", () => {
  assert.deepEqual(resolveK3sOptions({}).mirrors, {});
  assert.deepEqual(resolveK3sOptions({ mirror: false }).mirrors, {});
  assert.deepEqual(Object.keys(resolveK3sOptions({ mirror: true }).mirrors), ["docker.io", "ghcr.io", "quay.io", "registry.k8s.io"]);
  assert.equal(resolveK3sOptions({ mirror: true }).mirrors["docker.io"], DOCKER_HUB_UPSTREAM);
  assert.deepEqual(resolveK3sOptions({ mirror: { upstream: "http://standin:5000/" } }).mirrors, { "docker.io": "http://standin:5000" });
  for (const bad of ["yes", null, [], { upstream: "ftp://x" }, { upstream: "https://user:pw@x" }, { upstream: 5 }]) {
    assert.throws(() => resolveK3sOptions({ mirror: bad as never }), /option "mirror(\.upstream)?" must be true, false, or \{ upstream/);
  }
  assert.throws(() => resolveK3sOptions({ mirror: { upstrem: "http://x" } as never }), /option "mirror\.upstrem" must be absent/);
});

test("each shared mirror is its registry's first endpoint; Docker Hub's come before the daemon's mirrors", () => {
  const endpoint = mirrorEndpoint("https://registry-1.docker.io");
  assert.match(endpoint, /^http:\/\/k3sbox-mirror-[0-9a-f]{10}:5000$/);
  assert.notEqual(endpoint, mirrorEndpoint("http://standin:5000"), "one mirror per upstream");
  const ghcr = mirrorEndpoint("https://ghcr.io");
  const yaml = parseYaml(buildRegistriesYaml({ registry: false, dockerHubMirrors: ["https://m.example"], sharedMirrors: { "docker.io": endpoint, "ghcr.io": ghcr } })!);
  assert.deepEqual(yaml.mirrors["docker.io"].endpoint, [endpoint, "https://m.example", "https://registry-1.docker.io"]);
  assert.deepEqual(yaml.mirrors["ghcr.io"].endpoint, [ghcr, "https://ghcr.io"]);
});
