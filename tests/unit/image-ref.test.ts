// Docker's image reference grammar (lib/image-ref.ts): the one check for node images, cache entries, loads and `--image`.
import assert from "node:assert/strict";
import { test } from "../harness.ts";
import { isImageReference } from "../../lib/image-ref.ts";

test("image references Docker accepts", () => {
  for (
    const ok of [
      "busybox",
      "busybox:1.36",
      "rancher/k3s:v1.32.1-k3s1",
      "k3sbox-testbed:latest",
      "localhost/app",
      "localhost:5000/team/app:dev",
      "registry.example.com:5000/mirror/rancher/k3s",
      "Registry.Example.com/app", // the registry part may have capitals
      "a__b/c.d-e:TAG_1",
      `app@sha256:${"a".repeat(64)}`,
      `app:1@sha256:${"0".repeat(64)}`,
    ]
  ) assert.ok(isImageReference(ok), ok);
});

test("image references Docker refuses (each would pass a looser rule)", () => {
  for (
    const bad of [
      "",
      "x; rm -rf /",
      "App:1", // uppercase path
      "team/App", // uppercase path after a non-registry component
      "-app",
      "app:",
      "app:-tag",
      `app:${"t".repeat(129)}`,
      "app@sha256:abc", // digest too short
      "a//b",
      "app/",
      "app:1:2",
      `${"a".repeat(513)}`,
      "app name",
    ]
  ) assert.ok(!isImageReference(bad), bad);
  for (const bad of [undefined, null, 1, {}]) assert.ok(!isImageReference(bad), String(bad));
});
