// The image cache on a bare node: the node image without baked images
// (testbed/image.sh's k3sbox-testbed-bare, like rancher/k3s: an empty
// containerd that would pull everything), whose system images come from a
// stand-in for Docker Hub — a real registry (distribution, the parts' registry:2)
// on loopback that counts what it is asked — through the host's Docker.
//
// Boot 1 (this process): the cache has never seen this node image, so the
// boot learns its system images from the node (staged manifests, containerd
// config), fetches each through the daemon from the stand-in, hands them to
// the node, and setup completes: Traefik and the registry Ready, an HTTPS
// request through Traefik answered.
// Boot 2 (another process, `k3sbox images warm`): the stand-in is replaced by
// one that answers 429 toomanyrequests to everything (Docker Hub over its
// limit): the boot completes from the cache alone and the stand-in is asked
// nothing. No other registry is reachable from this machine at all.
//
// The node image is a per-run derivative of the bare image whose system
// image references point at the stand-in (the node's K3SBOX_*_IMAGE
// settings), so each run starts with a cache that has never seen it.

import assert from "node:assert/strict";
import { createServer } from "node:http";
import { skip, suite } from "../harness.ts";
import { k3s, type K3sHelpers } from "../../lib/k3s/k3s.ts";
import { waitForDeployment } from "../../lib/k3s/setup.ts";
import { demoManifest } from "../../lib/cli/smoke.ts";
import { docker, dockerResult } from "../../lib/docker.ts";
import { listVolumes, removeVolumes } from "../../lib/docker/volumes.ts";
import { LABEL_IMAGE_REF } from "../../lib/images/cache.ts";
import { LABEL_NODE_IMAGE_REF } from "../../lib/images/system-images.ts";
import { type Environment, startEnvironment } from "../../lib/runner/environment.ts";
import type { ServiceDefinition } from "../../lib/service.ts";
import { freePort } from "../support/controlplane.ts";
import { eventually } from "../support/eventually.ts";
import { leftovers } from "../support/leftovers.ts";
import { k3sbox } from "../support/cli.ts";
import { runTag } from "../support/child-processes.ts";
import { onlyUnder } from "../support/one-runtime.ts";

const BARE = process.env.K3SBOX_TESTBED_BARE_IMAGE;
const LONG = { timeoutMs: 240_000 };
// The system images the node's entry deploys, and the variables that rename them.
const SYSTEM = [
  { env: "K3SBOX_PAUSE_IMAGE", source: "rancher/mirrored-pause:3.6", name: "pause:3.6" },
  { env: "K3SBOX_COREDNS_IMAGE", sourceEnv: "K3SBOX_COREDNS_IMAGE", name: "coredns:1" },
  { env: "K3SBOX_LOCAL_PATH_IMAGE", sourceEnv: "K3SBOX_LOCAL_PATH_IMAGE", name: "local-path:1" },
  { env: "K3SBOX_LOCAL_PATH_HELPER_IMAGE", sourceEnv: "K3SBOX_LOCAL_PATH_HELPER_IMAGE", name: "busybox:1" },
];
const WHOAMI = "traefik/whoami:v1.10.3";

/** The value of an ENV of an image's config. */
async function imageEnv(image: string, name: string): Promise<string> {
  const env: string[] = JSON.parse(await docker(["image", "inspect", "--format", "{{json .Config.Env}}", image]));
  const v = env.find((e) => e.startsWith(`${name}=`))?.slice(name.length + 1);
  if (!v) throw new Error(`${image} has no ${name}`);
  return v;
}

/** Requests the stand-in registry logged (distribution's access log), by path. */
async function registryRequests(container: string): Promise<string[]> {
  const r = await dockerResult(["logs", container]);
  return [...(r.stdout + r.stderr).matchAll(/"(?:GET|HEAD) (\/v2\/[^ ]+) HTTP/g)].map((m) => m[1]);
}

const notHere = onlyUnder("node", "the image-cache suite");
if (!BARE) {
  skip("image cache on a bare node", "K3SBOX_TESTBED_BARE_IMAGE is not set: run scripts/test.sh, which builds the node images (testbed/image.sh)");
} else if (notHere) {
  skip("image cache on a bare node", notHere);
} else {
  const run = runTag();
  const repo = `k3sbox-upstream-${run}`;
  const nodeImage = `k3sbox-test-bare-node:${run}`;
  suite("composition: a bare node boots from the host-side image cache (stand-in Docker Hub, then rate-limited)", {
    setupTimeoutMs: 300_000,
    setup: async () => {
      const port = await freePort();
      const registry = `k3sbox-upstream-${run}`;
      await docker(["run", "--detach", "--name", registry, "--label", `k3sbox.test.run=${run}`, "--publish", `127.0.0.1:${port}:5000`, "registry:2"]);
      const upstream = `127.0.0.1:${port}/${repo}`;
      // Push each system image into the stand-in under its new name, and drop the local tag: only the stand-in has it.
      const envLines: string[] = [];
      const refs: string[] = [];
      for (const s of SYSTEM) {
        const source = s.source ?? await imageEnv(BARE, s.sourceEnv!);
        const ref = `${upstream}/${s.name}`;
        await docker(["tag", source, ref]);
        // The registry may take a moment to listen.
        await eventually(`push ${ref}`, async () => (await docker(["push", "--quiet", ref], { timeoutMs: 120_000 }), true), 30_000);
        await docker(["rmi", ref]);
        envLines.push(`${s.env}=${ref}`);
        refs.push(ref);
      }
      await docker(["build", "--quiet", "--tag", nodeImage, "--label", `k3sbox.test.run=${run}`, "-"], {
        stdin: `FROM ${BARE}\nENV ${envLines.join(" ")}\n`,
        timeoutMs: 120_000,
      });
      const pushRequests = (await registryRequests(registry)).length;
      return { port, registry, refs, pushRequests, env: undefined as Environment<{ k8s: ServiceDefinition<K3sHelpers> }> | undefined };
    },
    teardown: async (f) => {
      await f.env?.stop();
      await dockerResult(["rm", "--force", "--volumes", f.registry]);
      await dockerResult(["rmi", nodeImage]);
      const vols = [
        ...(await Promise.all(f.refs.map((r) => listVolumes([`${LABEL_IMAGE_REF}=${r}`])))).flat(),
        ...await listVolumes([`${LABEL_NODE_IMAGE_REF}=${nodeImage}`]),
      ];
      await removeVolumes(vols.map((v) => v.name));
      if (f.env) assert.deepEqual(await leftovers(f.env.id), [], "stop() leaves no container or network");
    },
  }, (t) => {
    t("boot 1: the system images are learned from the node, fetched once through the daemon, and setup completes with HTTPS through Traefik", async (f) => {
      const progress: string[] = [];
      const t0 = performance.now();
      f.env = await startEnvironment({
        services: { k8s: { ...k3s({ ingressDomains: ["cache.test"] }), image: { type: "registry", reference: nodeImage } } },
        // Printed as it comes: a slow first boot shows where its time went.
        onProgress: (m) => (progress.push(m), console.error(`  [${((performance.now() - t0) / 1000).toFixed(1)}s] ${m}`)),
      });
      const text = progress.join("\n");
      assert.match(text, /own system images are not known yet: this boot learns them/, text);
      assert.match(text, new RegExp(`learned ${nodeImage.replace(/[.*+?^${}()|[\]\\:]/g, "\\$&")}'s system images: .*${repo}/pause:3\\.6`), text);
      for (const ref of f.refs) assert.ok(text.includes(`pulling ${ref} through Docker`), `${ref} was fetched through the daemon:\n${text}`);
      // Each system image was pulled from the stand-in exactly once: its tag
      // resolved once (a pull then asks for the manifest by digest), each blob fetched once.
      const asked = (await registryRequests(f.registry)).slice(f.pushRequests);
      for (const s of SYSTEM) {
        const [name, tag] = s.name.split(":");
        const byTag = asked.filter((p) => p === `/v2/${repo}/${name}/manifests/${tag}`);
        assert.equal(byTag.length, 1, `${s.name} resolved once: ${asked.join(", ")}`);
        const blobs = asked.filter((p) => p.startsWith(`/v2/${repo}/${name}/blobs/`));
        assert.equal(new Set(blobs).size, blobs.length, `${s.name}: each blob once: ${blobs.join(", ")}`);
      }
      // A workload image from the host's Docker, then an Ingress through real Traefik.
      await f.env.svc.k8s.loadImages(WHOAMI);
      await f.env.svc.k8s.apply(demoManifest("hello.cache.test"));
      await waitForDeployment("k8s", f.env.svc.k8s, { name: "hello", namespace: "default", timeoutMs: 120_000 });
      const body = await eventually("GET https://hello.cache.test/", async () => {
        const res = await f.env!.fetch("https://hello.cache.test/");
        const t = await res.text();
        if (res.status !== 200) throw new Error(`${res.status} ${t}`);
        return t;
      }, 60_000);
      assert.match(body, /Hostname: hello-/);
      await f.env.stop();
      assert.deepEqual(await leftovers(f.env.id), []);
    }, LONG);

    t("boot 2, in another process, with the upstream answering 429 to everything: boots from the cache alone, the upstream is asked nothing", async (f) => {
      await dockerResult(["rm", "--force", "--volumes", f.registry]);
      let asked = 0;
      const limited = createServer((_req, res) => {
        asked++;
        res.writeHead(429, { "content-type": "application/json" });
        res.end(JSON.stringify({ errors: [{ code: "TOOMANYREQUESTS", message: "You have reached your pull rate limit." }] }));
      });
      await new Promise<void>((r) => limited.listen(f.port, "127.0.0.1", r));
      try {
        const r = await k3sbox(["images", "warm", "--image", nodeImage, "--no-registry"], { timeoutMs: 200_000 });
        assert.equal(r.code, 0, `k3sbox images warm failed:\n${r.stderr}`);
        assert.match(r.stderr, /node images: \d+ from the cache/, r.stderr);
        assert.doesNotMatch(r.stderr, /pulling|learns them|saved from Docker/, r.stderr);
        assert.equal(asked, 0, "the rate-limited upstream was asked nothing");
        const listing = JSON.parse((await k3sbox(["images", "--json"])).stdout);
        const learned = listing.nodeImages.find((n: { nodeImage: string }) => n.nodeImage === nodeImage);
        assert.deepEqual([...learned.images].sort(), [...f.refs].sort());
      } finally {
        await new Promise((r) => limited.close(r));
      }
    }, LONG);
  });
}
