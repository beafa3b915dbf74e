// k3s({ image }): another k3s image (a mirror, a private registry) without
// spreading the definition; validated against Docker's reference grammar.

import assert from "node:assert/strict";
import { test } from "../harness.ts";
import { k3s } from "../../lib/k3s/k3s.ts";
import { K3sOptionError, resolveK3sOptions } from "../../lib/k3s/options.ts";
import { hasTagOrDigest, normalizeReference } from "../../lib/image-ref.ts";

const DIGEST = "sha256:" + "ab12".repeat(16);

test("k3s({ image }): an untagged mirror gets the version as its tag; a tagged or pinned one is used as is", () => {
  assert.equal(k3s().image.reference, "rancher/k3s:v1.32.1-k3s1");
  assert.equal(k3s({ image: "registry.example.com:5000/mirror/rancher/k3s" }).image.reference, "registry.example.com:5000/mirror/rancher/k3s:v1.32.1-k3s1");
  assert.equal(k3s({ image: "mirror.local/rancher/k3s", version: "v1.31.4-k3s1" }).image.reference, "mirror.local/rancher/k3s:v1.31.4-k3s1");
  assert.equal(k3s({ image: "ghcr.io/acme/k3s:v1.32.1-k3s1-patched" }).image.reference, "ghcr.io/acme/k3s:v1.32.1-k3s1-patched");
  assert.equal(k3s({ image: `mirror.local/rancher/k3s@${DIGEST}` }).image.reference, `mirror.local/rancher/k3s@${DIGEST}`);
  assert.equal(k3s({ image: "localhost:5000/k3s" }).image.reference, "localhost:5000/k3s:v1.32.1-k3s1");
  // The rest of the definition is the same as for rancher/k3s.
  const a = k3s({ ingressDomains: ["example.test"] });
  const b = k3s({ ingressDomains: ["example.test"], image: "mirror.local/rancher/k3s" });
  assert.deepEqual({ ...b, image: a.image }.command, a.command);
  assert.equal(b.privileged, true);
  assert.deepEqual(b.dnsNames, a.dnsNames);
});

test("k3s({ image }): bad references name the option and the allowed form; a tag twice is refused", () => {
  const bad: unknown[] = ["", "UPPER/k3s", "k3s:", "k3s@sha256:12", "a b", "k3s;rm -rf /", "-k3s", "k3s:tag:again", "$(id)/k3s", 5, null, "x".repeat(600)];
  for (const image of bad) {
    assert.throws(() => resolveK3sOptions({ image } as never), (err: unknown) => {
      assert.ok(err instanceof K3sOptionError, String(image));
      assert.equal(err.option, "image");
      assert.match(err.message, /^k3s\(\): option "image" must be an image reference such as "registry\.example\.com:5000\/mirror\/rancher\/k3s"/);
      return true;
    });
  }
  assert.throws(() => resolveK3sOptions({ image: "mirror.local/k3s:v1", version: "v2" }), {
    message: 'k3s(): option "version" must be left out when "image" already names a tag or digest (image is "mirror.local/k3s:v1"); got "v2"',
  });
});

test("hasTagOrDigest looks after the last slash (a registry port is not a tag)", () => {
  assert.equal(hasTagOrDigest("localhost:5000/k3s"), false);
  assert.equal(hasTagOrDigest("localhost:5000/k3s:v1"), true);
  assert.equal(hasTagOrDigest(`k3s@${DIGEST}`), true);
  assert.equal(hasTagOrDigest("rancher/k3s"), false);
});

test("normalizeReference: the name containerd and the kubelet use for an image", () => {
  assert.equal(normalizeReference("app:dev"), "docker.io/library/app:dev");
  assert.equal(normalizeReference("app"), "docker.io/library/app:latest");
  assert.equal(normalizeReference("acme/app:1"), "docker.io/acme/app:1");
  assert.equal(normalizeReference("ghcr.io/acme/app"), "ghcr.io/acme/app:latest");
  assert.equal(normalizeReference("localhost:5000/app:2"), "localhost:5000/app:2");
  assert.equal(normalizeReference("localhost/app"), "localhost/app:latest");
  assert.equal(normalizeReference(`app@${DIGEST}`), `docker.io/library/app@${DIGEST}`);
});
