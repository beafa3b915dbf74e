// `up --kubeconfig <file>` never clobbers (real files in a temporary
// directory; kubectl reads the results): our entries are merged into an
// existing kubeconfig and taken out again, the user's entries and
// current-context come back, a new file is 0600 from its creation, and a
// symbolic link or a file that is not a kubeconfig is refused untouched.

import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "../harness.ts";
import { parseYaml, stringifyYaml } from "../../deps.ts";
import { run } from "../../lib/exec.ts";
import { checkKubeconfigTarget, type KubeconfigEntryRecord, removeKubeconfigEntries, writeKubeconfigEntries } from "../../lib/runner/kubeconfig-merge.ts";
import { recordKubeconfigEntries, removeEnvironmentDir } from "../../lib/runner/state-dir.ts";

const NAME = "k3sbox-0123456789-k8s";
const ours = stringifyYaml({
  apiVersion: "v1",
  kind: "Config",
  clusters: [{ name: NAME, cluster: { server: "https://127.0.0.1:6443", "certificate-authority-data": "Q0E=" } }],
  users: [{ name: NAME, user: { "client-certificate-data": "Q0VSVA==", "client-key-data": "S0VZ" } }],
  contexts: [{ name: NAME, context: { cluster: NAME, user: NAME } }],
  "current-context": NAME,
});
const theirs = stringifyYaml({
  apiVersion: "v1",
  kind: "Config",
  clusters: [{ name: "prod", cluster: { server: "https://prod.example:6443" } }],
  users: [{ name: "me", user: { token: "secret" } }],
  contexts: [{ name: "prod", context: { cluster: "prod", user: "me" } }],
  "current-context": "prod",
  preferences: {},
});

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "k3sbox-kc-merge-"));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const noRecord = () => Promise.resolve();
const kubectlContexts = async (path: string) => (await run("kubectl", ["--kubeconfig", path, "config", "get-contexts", "-o", "name"])).stdout.trim().split("\n").sort();
const kubectlCurrent = async (path: string) => (await run("kubectl", ["--kubeconfig", path, "config", "current-context"])).stdout.trim();

test("--kubeconfig into an existing kubeconfig: merged (theirs kept, ours current, 0600), then only ours taken out and their context restored", () =>
  withDir(async (dir) => {
    const f = join(dir, "config");
    await writeFile(f, theirs, { mode: 0o644 });
    const r = await writeKubeconfigEntries(f, ours, NAME, noRecord);
    assert.deepEqual(r, { path: f, name: NAME, created: false, previousContext: "prod" });
    assert.equal((await stat(f)).mode & 0o777, 0o600, "it holds a cluster-admin key now");
    assert.deepEqual(await kubectlContexts(f), [NAME, "prod"].sort());
    assert.equal(await kubectlCurrent(f), NAME);
    const merged = parseYaml(await readFile(f, "utf8"));
    assert.equal(merged.users.find((u: { name: string }) => u.name === "me").user.token, "secret", "their user kept as it was");
    await removeKubeconfigEntries(r);
    assert.deepEqual(await kubectlContexts(f), ["prod"]);
    assert.equal(await kubectlCurrent(f), "prod");
    assert.doesNotMatch(await readFile(f, "utf8"), new RegExp(NAME));
    assert.deepEqual(await readdir(dir), ["config"], "no lock or temporary file left");
  }));

test("--kubeconfig to a new file: created 0600 before anything is in it; removed when only ours was in it, kept when the user added entries", () =>
  withDir(async (dir) => {
    const f = join(dir, "kc.yaml");
    const r = await writeKubeconfigEntries(f, ours, NAME, noRecord);
    assert.equal(r.created, true);
    assert.equal((await stat(f)).mode & 0o777, 0o600);
    assert.equal(await kubectlCurrent(f), NAME);
    await removeKubeconfigEntries(r);
    assert.deepEqual(await readdir(dir), [], "ours only: the file goes");

    const g = join(dir, "shared.yaml");
    const r2 = await writeKubeconfigEntries(g, ours, NAME, noRecord);
    // The user (or kind, k3d) merges something of their own into it meanwhile.
    const doc = parseYaml(await readFile(g, "utf8"));
    const their = parseYaml(theirs);
    for (const l of ["clusters", "users", "contexts"]) doc[l].push(...their[l]);
    await writeFile(g, stringifyYaml(doc));
    await removeKubeconfigEntries(r2);
    assert.deepEqual(await kubectlContexts(g), ["prod"], "their entries stay");
  }));

test("--kubeconfig through a symbolic link is refused before anything is written; the link's target is untouched", () =>
  withDir(async (dir) => {
    const target = join(dir, "someone-elses.yaml");
    await writeFile(target, theirs, { mode: 0o644 });
    const link = join(dir, "link.yaml");
    await symlink(target, link);
    await assert.rejects(checkKubeconfigTarget(link), /--kubeconfig: .*link\.yaml is a symbolic link; k3sbox does not write through links/);
    await assert.rejects(writeKubeconfigEntries(link, ours, NAME, () => assert.fail("nothing may be recorded")), /symbolic link/);
    assert.equal(await readFile(target, "utf8"), theirs);
    assert.equal((await stat(target)).mode & 0o777, 0o644);
    const dangling = join(dir, "dangling.yaml");
    await symlink(join(dir, "nowhere.yaml"), dangling);
    await assert.rejects(checkKubeconfigTarget(dangling), /symbolic link/, "a dangling link would create its target");
    assert.deepEqual((await readdir(dir)).sort(), ["dangling.yaml", "link.yaml", "someone-elses.yaml"]);
  }));

test("--kubeconfig naming a file that is not a kubeconfig (or not YAML, or a directory) is refused, naming the option", () =>
  withDir(async (dir) => {
    const notes = join(dir, "notes.txt");
    await writeFile(notes, "- just\n- a list\n");
    await assert.rejects(checkKubeconfigTarget(notes), /--kubeconfig: .*notes\.txt exists and is not a kubeconfig/);
    const pod = join(dir, "pod.yaml");
    await writeFile(pod, "apiVersion: v1\nkind: Pod\n");
    await assert.rejects(checkKubeconfigTarget(pod), /is not a kubeconfig \(kind: Config\)/);
    const broken = join(dir, "broken.yaml");
    await writeFile(broken, "a: [unclosed\n");
    await assert.rejects(checkKubeconfigTarget(broken), /is not valid YAML/);
    await assert.rejects(checkKubeconfigTarget(dir), /is a directory/);
    assert.equal(await readFile(notes, "utf8"), "- just\n- a list\n");
    await writeFile(join(dir, "empty.yaml"), "");
    await checkKubeconfigTarget(join(dir, "empty.yaml")); // an empty file is an empty kubeconfig
  }));

test("state dir: removing the environment's directory takes our entries out of the merged kubeconfig it recorded", () =>
  withDir(async (dir) => {
    const saved = process.env.K3SBOX_STATE_DIR;
    process.env.K3SBOX_STATE_DIR = join(dir, "state");
    try {
      const f = join(dir, "config");
      await writeFile(f, theirs, { mode: 0o600 });
      const id = "0123456789";
      let recorded: KubeconfigEntryRecord | undefined;
      await writeKubeconfigEntries(f, ours, NAME, async (r) => {
        recorded = r;
        await recordKubeconfigEntries(id, r);
      });
      assert.ok(recorded);
      assert.equal(await removeEnvironmentDir(id), true);
      assert.deepEqual(await kubectlContexts(f), ["prod"]);
      assert.equal(await kubectlCurrent(f), "prod");
    } finally {
      if (saved === undefined) delete process.env.K3SBOX_STATE_DIR;
      else process.env.K3SBOX_STATE_DIR = saved;
    }
  }));
