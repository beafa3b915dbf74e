// The argv lib/docker/ builds for throwaway containers and pipelines (pure:
// no engine), and the argument checks on them.

import assert from "node:assert/strict";
import { test } from "../harness.ts";
import { DockerArgumentError, execCommand, imageSaveCommand, throwawayArgs } from "../../lib/docker.ts";

test("throwawayArgs: docker run --rm without network, flags before the image, the command after it", () => {
  assert.deepEqual(throwawayArgs({ image: "busybox:1", entrypoint: "cat", command: ["/proc/sys/fs/inotify/max_user_instances"] }), [
    "run", "--rm", "--network", "none", "--entrypoint", "cat", "busybox:1", "/proc/sys/fs/inotify/max_user_instances",
  ]);
  // The crash watchdog's sibling: detached, named, labelled, the parent's volumes, no log.
  assert.deepEqual(
    throwawayArgs({
      detach: true, name: "k3sbox-watchdog-s1", labels: { "k3sbox.watchdog": "s1" }, volumesFrom: "abc123", noLogs: true,
      env: { PATH: "/usr/bin:/bin", K3SBOX_REAPER: "0" }, entrypoint: "/usr/bin/node", image: "sha256:0123abcd", command: ["reaper-main.js", "--reap-container", "s1", "abc123"],
    }),
    [
      "run", "--rm", "--detach", "--name", "k3sbox-watchdog-s1", "--label", "k3sbox.watchdog=s1", "--volumes-from", "abc123",
      "--network", "none", "--log-driver", "none", "--env", "PATH=/usr/bin:/bin", "--env", "K3SBOX_REAPER=0",
      "--entrypoint", "/usr/bin/node", "sha256:0123abcd", "reaper-main.js", "--reap-container", "s1", "abc123",
    ],
  );
  // An image cache writer: stdin from the pipeline, one volume.
  assert.deepEqual(throwawayArgs({ image: "node:1", interactive: true, mounts: [{ volume: "v1", target: "/cache" }], entrypoint: "/bin/sh", command: ["-c", "cat > /cache/x"] }), [
    "run", "--rm", "--interactive", "--network", "none", "--mount", "type=volume,source=v1,target=/cache", "--entrypoint", "/bin/sh", "node:1", "-c", "cat > /cache/x",
  ]);
});

test("throwawayArgs, execCommand, imageSaveCommand: a value Docker would misread is a DockerArgumentError naming it", () => {
  const bad: [string, () => unknown][] = [
    ["image", () => throwawayArgs({ image: "--privileged", entrypoint: "sh" })],
    ["name", () => throwawayArgs({ image: "busybox", entrypoint: "sh", name: "-x" })],
    ["volumes-from", () => throwawayArgs({ image: "busybox", entrypoint: "sh", volumesFrom: "a b" })],
    ["label key", () => throwawayArgs({ image: "busybox", entrypoint: "sh", labels: { "a=b": "c" } })],
    ["NUL in a command argument", () => throwawayArgs({ image: "busybox", entrypoint: "sh", command: ["a\0b"] })],
    ["exec container", () => execCommand("--all", ["true"])],
    ["empty exec command", () => execCommand("abc", [])],
    ["save reference", () => imageSaveCommand(["-o/etc/passwd"])],
    ["save platform", () => imageSaveCommand(["app:1"], "linux/amd64 --output=/x")],
  ];
  for (const [what, build] of bad) assert.throws(build, DockerArgumentError, what);
  assert.deepEqual(imageSaveCommand(["app:1"], "linux/arm64/v8"), { cmd: "docker", args: ["save", "--platform", "linux/arm64/v8", "app:1"] });
  assert.deepEqual(execCommand("abc", ["sh", "-c", "x"]), { cmd: "docker", args: ["exec", "--interactive", "abc", "sh", "-c", "x"] });
});
