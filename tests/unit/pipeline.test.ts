// `first | second` without a shell, under each runtime (real processes).

import assert from "node:assert/strict";
import { test } from "../harness.ts";
import { runPipeline, spawnProcess } from "../../lib/exec.ts";
import { LIST_MARKER, loadCommands } from "../../lib/k3s/load-images.ts";

test("runPipeline streams the producer's stdout into the consumer (20 MB, nothing buffered in between)", async () => {
  const r = await runPipeline({ cmd: "head", args: ["-c", "20000000", "/dev/zero"] }, { cmd: "wc", args: ["-c"] });
  assert.equal(r.first.code, 0);
  assert.equal(r.second.code, 0);
  assert.equal(r.second.stdout.trim(), "20000000");
  assert.equal(r.timedOut, false);
});

test("runPipeline reports each side's exit code and stderr; arguments never meet a shell", async () => {
  const hostile = "$(touch /tmp/k3sbox-pwned); echo no";
  const r = await runPipeline({ cmd: "printf", args: ["%s", hostile] }, { cmd: "sh", args: ["-c", "cat; echo oops >&2; exit 3"] });
  assert.equal(r.second.stdout, hostile);
  assert.equal(r.second.code, 3);
  assert.equal(r.second.stderr, "oops\n");
  const failing = await runPipeline({ cmd: "sh", args: ["-c", "echo bad >&2; exit 4"] }, { cmd: "cat", args: [] });
  assert.equal(failing.first.code, 4);
  assert.equal(failing.first.stderr, "bad\n");
  assert.equal(failing.second.code, 0);
});

test("runPipeline keeps its deadline: both processes are killed", async () => {
  const t0 = Date.now();
  const r = await runPipeline({ cmd: "sleep", args: ["30"] }, { cmd: "sleep", args: ["30"] }, { timeoutMs: 300 });
  assert.equal(r.timedOut, true);
  assert.ok(Date.now() - t0 < 10_000);
});

test("runPipeline: a missing command is a clear error", async () => {
  await assert.rejects(runPipeline({ cmd: "k3sbox-no-such-command", args: [] }, { cmd: "cat", args: [] }), /k3sbox-no-such-command: command not found/);
});

test("loadCommands: docker save (host platform when the CLI can) into ctr images import - in the node, then its list", () => {
  const c = loadCommands("abc123", ["app:dev", "ghcr.io/x/y:1"], "linux/amd64", true);
  assert.deepEqual(c.save, { cmd: "docker", args: ["save", "--platform", "linux/amd64", "app:dev", "ghcr.io/x/y:1"] });
  assert.deepEqual(c.importer.args.slice(0, 5), ["exec", "--interactive", "abc123", "sh", "-c"]);
  // The values are positional parameters of the node's shell, never part of its script.
  assert.deepEqual(c.importer.args.slice(6), ["sh", "/run/k3s/containerd/containerd.sock", "k8s.io", "linux/amd64", LIST_MARKER]);
  assert.equal(c.importer.args[5], 'ctr --address "$1" --namespace "$2" images import --platform "$3" - && echo "$4" && exec ctr --address "$1" --namespace "$2" images list --quiet');
  assert.deepEqual(loadCommands("abc123", ["app:dev"], "linux/arm64", false).save.args, ["save", "app:dev"]);
});

test("spawnProcess: output read only after the child exited is all there (Node drops what nobody reads at exit)", async () => {
  for (let i = 0; i < 3; i++) {
    const c = await spawnProcess("sh", ["-c", "printf out; printf err >&2; exit 5"]);
    await new Promise((r) => setTimeout(r, 150)); // long past its exit
    const [out, err, code] = await Promise.all([new Response(c.stdout).text(), new Response(c.stderr).text(), c.exited]);
    assert.deepEqual([out, err, code], ["out", "err", 5]);
  }
});

test("spawnProcess: a child killed by a signal reports 128 + its number; stdin \"pipe\" is a writable stream", async () => {
  const sleeper = await spawnProcess("sleep", ["30"], { stdout: "ignore", stderr: "ignore" });
  sleeper.kill("SIGKILL");
  assert.equal(await sleeper.exited, 137);
  const cat = await spawnProcess("cat", [], { stdin: "pipe" });
  const writer = cat.stdin!.getWriter();
  await writer.write(new TextEncoder().encode("through stdin"));
  await writer.close();
  assert.equal(await new Response(cat.stdout).text(), "through stdin");
  assert.equal(await cat.exited, 0);
});
