// The private directory per environment (real files in a temporary root):
// 0700, refused when others can read the root, and removed together with the
// kubeconfig copies `up --kubeconfig` recorded in it — unless the user has
// since replaced a copy.

import assert from "node:assert/strict";
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "../harness.ts";
import { environmentDir, environmentDirPath, recordCopy, removeEnvironmentDir } from "../../lib/runner/state-dir.ts";

async function withRoot(body: (root: string, outside: string) => Promise<void>): Promise<void> {
  const base = await mkdtemp(join(tmpdir(), "k3sbox-state-test-"));
  const saved = process.env.K3SBOX_STATE_DIR;
  process.env.K3SBOX_STATE_DIR = join(base, "state");
  try {
    await body(process.env.K3SBOX_STATE_DIR, base);
  } finally {
    if (saved === undefined) delete process.env.K3SBOX_STATE_DIR;
    else process.env.K3SBOX_STATE_DIR = saved;
    await rm(base, { recursive: true, force: true });
  }
}

test("state dir: 0700 directories; removal takes the unchanged kubeconfig copies with it and leaves replaced ones", () =>
  withRoot(async (_root, outside) => {
    const id = "0123456789";
    const dir = await environmentDir(id);
    assert.equal(dir, environmentDirPath(id));
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    const unchanged = join(outside, "unchanged.yaml");
    const replaced = join(outside, "replaced.yaml");
    const vanished = join(outside, "vanished.yaml");
    for (const f of [unchanged, replaced, vanished]) {
      await recordCopy(id, f, "apiVersion: v1\nkind: Config\n");
      await writeFile(f, "apiVersion: v1\nkind: Config\n", { mode: 0o600 });
    }
    assert.equal((await stat(join(dir, "kubeconfig-copies"))).mode & 0o777, 0o600);
    await writeFile(replaced, "the user's own kubeconfig\n");
    await rm(vanished);
    assert.equal(await removeEnvironmentDir(id), true);
    await assert.rejects(stat(dir), /ENOENT/);
    await assert.rejects(stat(unchanged), /ENOENT/, "an unchanged copy goes with the cluster");
    assert.equal(await readFile(replaced, "utf8"), "the user's own kubeconfig\n", "a replaced file is the user's");
    assert.equal(await removeEnvironmentDir(id), false, "already gone");
  }));

test("state dir: a root that others can read is refused with what to do", () =>
  withRoot(async (root) => {
    await environmentDir("aaaaaaaaaa");
    await chmod(root, 0o755);
    await assert.rejects(environmentDir("bbbbbbbbbb"), /must be a directory owned by you with mode 0700 .* it is mode 755.*K3SBOX_STATE_DIR/);
    assert.throws(() => environmentDirPath("../etc"), /not an environment id/);
  }));
