// loadImages() and `k3sbox load` with Docker's containerd image store: a
// real Docker Engine 29 (built from the moby v2 module by
// testbed/docker29.sh; the host's Debian Docker 20.10 has no such store),
// its images kept by containerd, the node on that same daemon. There,
// `docker save` writes an OCI layout whose index may name platforms that are
// not in the store; loadImages saves the host platform only (`--platform`,
// which the CLI offers on this daemon's API) and containerd in the node
// imports it.
//
// scripts/test.sh starts that daemon and sets K3SBOX_CONTAINERD_STORE_HOST.
// Everything in this file (the runner, the docker CLI, the k3sbox CLI it
// spawns) talks to that daemon through DOCKER_HOST.

import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { skip, suite } from "../harness.ts";
import { k3s, type K3sHelpers } from "../../lib/k3s/k3s.ts";
import { CONTAINERD_SOCKET } from "../../lib/k3s/load-images.ts";
import { docker, listByLabel } from "../../lib/docker.ts";
import { run } from "../../lib/exec.ts";
import { LABEL_ENV } from "../../lib/runner/labels.ts";
import { type Environment, startEnvironment } from "../../lib/runner/environment.ts";
import type { ServiceDefinition } from "../../lib/service.ts";
import { NO_IMAGE_REASON, TESTBED_IMAGE } from "../support/controlplane.ts";
import { BUSYBOX_IMAGE, ensureBusyboxImage, ensureImageOnce } from "../support/images.ts";
import { k3sbox } from "../support/cli.ts";
import { runTag } from "../support/child-processes.ts";
import { onlyUnder } from "../support/one-runtime.ts";

type Env = Environment<{ k8s: ServiceDefinition<K3sHelpers> }>;
const STORE_HOST = process.env.K3SBOX_CONTAINERD_STORE_HOST;
const NO_STORE_REASON =
  "K3SBOX_CONTAINERD_STORE_HOST is not set: scripts/test.sh starts a Docker 29 daemon with the containerd image store (testbed/docker29.sh) and sets it";
const LONG = { timeoutMs: 180_000 };

/** Copies the node image from the daemon this process started with into the store daemon, once for all processes. */
function ensureNodeImage(from: string): Promise<void> {
  return ensureImageOnce(TESTBED_IMAGE!, "containerd-store-image", async () => {
    const r = await run("sh", ["-c", 'docker -H "$1" save "$2" | docker -H "$3" load', "sh", from, TESTBED_IMAGE!, STORE_HOST!], { timeoutMs: 420_000 }); // ~400 MB through two daemons: minutes under load
    assert.equal(r.code, 0, `copying ${TESTBED_IMAGE} into the containerd-store daemon: ${r.stderr}`);
  });
}

/**
 * Makes `target` an image whose index names two platforms, linux/amd64 (the
 * blobs of `source`) and linux/arm64, whose manifest the store does not have:
 * what the store holds after pulling one platform of a multi-platform image.
 */
async function tagWithAbsentPlatform(source: string, target: string): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "k3sbox-multiplatform-"));
  try {
    const saved = await run("sh", ["-c", 'docker save --platform linux/amd64 "$1" | tar -x -C "$2"', "sh", source, dir]);
    assert.equal(saved.code, 0, saved.stderr);
    const layout = JSON.parse(await readFile(join(dir, "index.json"), "utf8"));
    const amd64 = layout.manifests[0];
    const absent = new TextEncoder().encode(JSON.stringify({ schemaVersion: 2, note: "an arm64 manifest this store never received" }));
    const index = new TextEncoder().encode(JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [
        { mediaType: amd64.mediaType, digest: amd64.digest, size: amd64.size, platform: { architecture: "amd64", os: "linux" } },
        { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: `sha256:${await sha256(absent)}`, size: absent.length, platform: { architecture: "arm64", os: "linux" } },
      ],
    }));
    const indexDigest = await sha256(index);
    await writeFile(join(dir, "blobs", "sha256", indexDigest), index);
    const [repo, ref] = target.split(":");
    await writeFile(join(dir, "index.json"), JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [{
        mediaType: "application/vnd.oci.image.index.v1+json",
        digest: `sha256:${indexDigest}`,
        size: index.length,
        annotations: { "io.containerd.image.name": `docker.io/library/${repo}:${ref}`, "org.opencontainers.image.ref.name": ref },
      }],
    }));
    await rm(join(dir, "manifest.json"), { force: true });
    const loaded = await run("sh", ["-c", 'tar -c -C "$1" . | docker load', "sh", dir]);
    assert.equal(loaded.code, 0, loaded.stderr);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  return Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
}

function job(name: string, image: string) {
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name },
    spec: {
      backoffLimit: 0,
      template: { spec: { restartPolicy: "Never", containers: [{ name: "app", image, imagePullPolicy: "Never", command: ["cat", "/token"] }] } },
    },
  };
}

const notHere = onlyUnder("deno", "the containerd-image-store suite");
if (!TESTBED_IMAGE) {
  skip("loadImages with the containerd image store", NO_IMAGE_REASON);
} else if (!STORE_HOST) {
  skip("loadImages with the containerd image store", NO_STORE_REASON);
} else if (notHere) {
  // What differs between stores is the docker CLI's argv and what containerd
  // imports, the same under every runtime; a node boot is this file's cost.
  skip("loadImages with the containerd image store", notHere);
} else {
  const hostDaemon = process.env.DOCKER_HOST ?? "unix:///var/run/docker.sock";
  process.env.DOCKER_HOST = STORE_HOST;
  const tag = `k3sbox-test-store:${runTag()}`;
  const multi = `k3sbox-test-store:${runTag()}-multi`;
  suite("composition: loadImages with Docker's containerd image store (Docker 29 from the moby v2 module; real node on the same daemon)", {
    setupTimeoutMs: 540_000,
    setup: async () => {
      const info = await docker(["info", "--format", "{{.ServerVersion}} {{json .DriverStatus}}"]);
      await ensureNodeImage(hostDaemon);
      await ensureBusyboxImage();
      await docker(["build", "--quiet", "--tag", tag, "-"], { stdin: `FROM ${BUSYBOX_IMAGE}\nRUN echo token-${tag} > /token\n`, timeoutMs: 120_000 });
      await tagWithAbsentPlatform(tag, multi);
      const env: Env = await startEnvironment({ services: { k8s: k3s({ image: TESTBED_IMAGE!, registry: false }) } });
      return { env, info: info.trim() };
    },
    teardown: async ({ env }) => {
      const id = env.services.k8s.containerId;
      try {
        await env.stop();
      } finally {
        await docker(["rmi", tag, multi]).catch(() => {});
      }
      assert.deepEqual(await listByLabel("container", [`${LABEL_ENV}=${env.id}`]), []);
      // The node bound its cgroup onto /sys/fs/cgroup/<controller>/k3sbox-docker29/<id> inside itself (Docker 29
      // mounts a privileged container's own cgroup there); none of that outlives it on the host.
      const left = await run("sh", ["-c", `ls -d /sys/fs/cgroup/*/k3sbox-docker29/${id}* 2>/dev/null; true`]);
      assert.equal(left.stdout.trim(), "", "no cgroup directory of the node is left on the host");
    },
  }, (t) => {
    t("the daemon keeps images in containerd, and its CLI offers save --platform", async ({ info }) => {
      assert.match(info, /^(29|[3-9]\d)\.\d+\.\d+ .*io\.containerd\.snapshotter\.v1/, `docker info: ${info}`);
      const help = await docker(["save", "--help"]);
      assert.match(help, /--platform/);
      // The OCI layout `docker save` writes from this store: an index, not the classic manifest alone.
      const listing = await run("sh", ["-c", 'docker save --platform linux/amd64 "$1" | tar -t', "sh", tag]);
      assert.equal(listing.code, 0, listing.stderr);
      assert.match(listing.stdout, /^index\.json$/m);
      assert.match(listing.stdout, /^oci-layout$/m);
    }, LONG);

    t("loadImages: an image from the containerd store runs in the node with imagePullPolicy: Never", async ({ env }) => {
      const k8s = env.svc.k8s;
      const loaded = await k8s.loadImages(tag);
      assert.deepEqual(loaded, [{ reference: tag, name: `docker.io/library/${tag}` }]);
      await using ns = await k8s.namespace("store");
      await ns.apply(job("tok", tag));
      await ns.waitFor("job/tok", "Complete", { timeoutMs: 120_000 });
      assert.equal(await ns.logs("job-name=tok"), `token-${tag}\n`);
    }, LONG);

    t("`k3sbox load <image> --cluster <id>` from another process, on the same daemon", async ({ env }) => {
      const r = await k3sbox(["load", tag, "--cluster", env.id]);
      assert.equal(r.code, 0, r.stderr);
      const listed = await docker(["exec", env.services.k8s.containerId, "ctr", "--address", CONTAINERD_SOCKET, "-n", "k8s.io", "images", "list", "-q"]);
      assert.match(listed, new RegExp(`^docker\\.io/library/${tag.replace(/[.:]/g, "\\$&")}$`, "m"));
    }, LONG);

    t("an image whose index names a platform the store lacks (as after a one-platform pull): kind's import fails, loadImages runs it", async ({ env }) => {
      const node = env.services.k8s.containerId;
      // kind's `load docker-image`: the whole `docker save` into `ctr import --all-platforms`.
      const kind = await run("sh", ["-c", 'docker save "$1" | docker exec -i "$2" ctr --address "$3" -n k8s.io images import --all-platforms -', "sh", multi, node, CONTAINERD_SOCKET]);
      assert.notEqual(kind.code, 0, "the all-platforms import of the full index fails");
      assert.match(kind.stderr, /not found/);
      await env.svc.k8s.loadImages(multi);
      await using ns = await env.svc.k8s.namespace("multi");
      await ns.apply(job("multi", multi));
      await ns.waitFor("job/multi", "Complete", { timeoutMs: 120_000 });
      assert.equal(await ns.logs("job-name=multi"), `token-${tag}\n`);
    }, LONG);
  });
}
