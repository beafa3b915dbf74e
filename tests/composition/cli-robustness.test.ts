// `k3sbox up` on its error and crash paths, on the k3s-compatible test image:
// a failure after the cluster started removes it (detached or not) and names
// it; the kubeconfig lives in the cluster's private directory, which goes
// with the cluster — by `down`, or by the crash watchdog after a SIGKILL.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { skip, suite } from "../harness.ts";
import { run } from "../../lib/exec.ts";
import { NO_IMAGE_REASON, TESTBED_IMAGE } from "../support/controlplane.ts";
import { leftovers, shellExitCode } from "../support/leftovers.ts";
import { scriptArgv } from "../support/script.ts";
import { ownIngressDomain } from "../support/cli.ts";

const CLI = new URL("../../cli.ts", import.meta.url).pathname;
// Its own ingress domain: another file's `up --detach` of the same definition would attach to ours.
const CLUSTER = ["--image", TESTBED_IMAGE ?? "", "--unprivileged", "--no-registry", ...ownIngressDomain()];

function k3sbox(args: string[], stateDir: string) {
  const [cmd, ...pre] = scriptArgv(CLI);
  return run(cmd, [...pre, ...args], { env: { K3SBOX_STATE_DIR: stateDir }, timeoutMs: 180_000 });
}

async function waitGone(what: string, left: () => Promise<string[]>, deadlineMs = 15_000): Promise<void> {
  const t0 = Date.now();
  for (let now = await left(); now.length; now = await left()) {
    assert.ok(Date.now() - t0 < deadlineMs, `${what}: still there after ${deadlineMs} ms: ${now.join(", ")}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

if (!TESTBED_IMAGE) {
  skip("k3sbox up error and crash paths on the test image", NO_IMAGE_REASON);
} else {
  suite("k3sbox up: error and crash paths leave nothing (k3s-compatible test image)", {
    setup: async () => ({ stateDir: await mkdtemp(join(tmpdir(), "k3sbox-up-paths-")) }),
    teardown: async ({ stateDir }) => void await rm(stateDir, { recursive: true, force: true }),
  }, (t) => {
    t("a kubeconfig that cannot be written after the start: the cluster is removed and named, with and without --detach", async ({ stateDir }) => {
      // /proc exists, but no file can be created in it: the failure comes after the cluster is up.
      const [attached, detached] = await Promise.all([
        k3sbox(["up", ...CLUSTER, "--kubeconfig", "/proc/k3sbox-kubeconfig.yaml"], stateDir),
        k3sbox(["up", ...CLUSTER, "--detach", "--kubeconfig", "/proc/k3sbox-kubeconfig.yaml"], stateDir),
      ]);
      for (const r of [attached, detached]) {
        assert.equal(r.code, 1, r.stderr);
        const m = /k3sbox: cluster ([a-f0-9]{10}) started but `up` failed, so it was removed: .*\/proc\/k3sbox-kubeconfig\.yaml/.exec(r.stderr);
        assert.ok(m, r.stderr);
        assert.deepEqual(await leftovers(m[1]), []);
      }
      assert.deepEqual(await readdir(stateDir), [], "private directories left behind");
    }, { timeoutMs: 200_000 });

    t("up --detach: the kubeconfig is in a private directory that outlives `up` and goes with `down`", async ({ stateDir }) => {
      const up = await k3sbox(["up", ...CLUSTER, "--detach", "--json"], stateDir);
      assert.equal(up.code, 0, up.stderr);
      const info = JSON.parse(up.stdout);
      try {
        assert.equal(info.dir, join(stateDir, info.id));
        assert.equal(dirname(info.kubeconfig), info.dir);
        assert.equal((await stat(info.dir)).mode & 0o777, 0o700);
        assert.equal((await stat(info.kubeconfig)).mode & 0o777, 0o600);
        const nodes = await run("kubectl", ["--kubeconfig", info.kubeconfig, "get", "nodes", "-o", "name"]);
        assert.equal(nodes.code, 0, nodes.stderr);
        const ctx = await run("kubectl", ["--kubeconfig", info.kubeconfig, "config", "current-context"]);
        assert.equal(ctx.stdout.trim(), `k3sbox-${info.id}-k8s`);
      } finally {
        const down = await k3sbox(["down", info.id], stateDir);
        assert.equal(down.code, 0, down.stderr);
      }
      assert.deepEqual(await leftovers(info.id), []);
      assert.deepEqual(await readdir(stateDir), []);
    }, { timeoutMs: 200_000 });

    t("up --detach --kubeconfig <the user's kubeconfig>: merged in (theirs kept, 0600), kubectl reaches the cluster; `down` takes only ours out", async ({ stateDir }) => {
      const home = await mkdtemp(join(tmpdir(), "k3sbox-up-merge-"));
      const config = join(home, "config");
      const theirs = [
        "apiVersion: v1",
        "kind: Config",
        "clusters: [{ name: prod, cluster: { server: 'https://prod.example:6443' } }]",
        "users: [{ name: me, user: { token: secret } }]",
        "contexts: [{ name: prod, context: { cluster: prod, user: me } }]",
        "current-context: prod",
        "",
      ].join("\n");
      await writeFile(config, theirs, { mode: 0o644 });
      const up = await k3sbox(["up", ...CLUSTER, "--detach", "--json", "--kubeconfig", config], stateDir);
      assert.equal(up.code, 0, up.stderr);
      const info = JSON.parse(up.stdout);
      try {
        assert.equal(info.kubeconfig, config);
        assert.equal((await stat(config)).mode & 0o777, 0o600, "0600 once it holds the cluster-admin key");
        const contexts = await run("kubectl", ["--kubeconfig", config, "config", "get-contexts", "-o", "name"]);
        assert.deepEqual(contexts.stdout.trim().split("\n").sort(), [`k3sbox-${info.id}-k8s`, "prod"].sort());
        const nodes = await run("kubectl", ["--kubeconfig", config, "get", "nodes", "-o", "name"]);
        assert.equal(nodes.code, 0, nodes.stderr);
      } finally {
        const down = await k3sbox(["down", info.id], stateDir);
        assert.equal(down.code, 0, down.stderr);
      }
      const after = await run("kubectl", ["--kubeconfig", config, "config", "get-contexts", "-o", "name"]);
      assert.equal(after.stdout.trim(), "prod", "only our entries were taken out");
      assert.equal((await run("kubectl", ["--kubeconfig", config, "config", "current-context"])).stdout.trim(), "prod");
      assert.match(await readFile(config, "utf8"), /token: secret/);
      assert.deepEqual(await readdir(home), ["config"]);
      await rm(home, { recursive: true, force: true });
    }, { timeoutMs: 200_000 });

    t("SIGKILL of `up --kubeconfig kc.yaml`: the watchdog removes the cluster, its kubeconfig directory and the copy; nothing is left in the working directory", async ({ stateDir }) => {
      const cwd = await mkdtemp(join(tmpdir(), "k3sbox-up-cwd-"));
      const [cmd, ...pre] = scriptArgv(CLI);
      const cp = spawn(cmd, [...pre, "up", ...CLUSTER, "--kubeconfig", "kc.yaml"], { cwd, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, K3SBOX_STATE_DIR: stateDir } });
      let out = "";
      let err = "";
      cp.stdout!.on("data", (c) => (out += c));
      cp.stderr!.on("data", (c) => (err += c));
      const exited = new Promise<number | null>((r) => cp.on("exit", (c, s) => r(shellExitCode(c, s))));
      try {
        const t0 = Date.now();
        while (!/press Ctrl-C/.test(out)) {
          assert.ok(cp.exitCode === null && Date.now() - t0 < 180_000, `up did not come up:\n${err}`);
          await new Promise((r) => setTimeout(r, 100));
        }
        const id = /^cluster ([a-f0-9]{10}) is ready/m.exec(out)![1];
        assert.match(out, new RegExp(`^kubeconfig: ${join(cwd, "kc.yaml")}$`, "m"));
        assert.deepEqual(await readdir(cwd), ["kc.yaml"]);
        cp.kill("SIGKILL");
        assert.equal(await exited, 137);
        await waitGone(`cluster ${id}`, () => leftovers(id));
        await waitGone(`directory of ${id}`, () => readdir(stateDir));
        await waitGone("the --kubeconfig copy", () => readdir(cwd));
      } finally {
        cp.kill("SIGKILL");
        await rm(cwd, { recursive: true, force: true });
      }
    }, { timeoutMs: 200_000 });
  });
}
