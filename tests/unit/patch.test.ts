// lib/kube/patch.ts: k3sbox's PatchStrategy and setHeaderOptions, which exist
// so that importing k3sbox does not load the Kubernetes client, match the
// client's own. (The real patch calls run in the controlplane tier.)

import assert from "node:assert/strict";
import { test } from "../harness.ts";
import { PatchStrategy, setHeaderOptions } from "../../lib/kube/patch.ts";
import { loadKubernetesClient } from "../../deps.ts";

test("PatchStrategy has the client's values", async () => {
  const client = await loadKubernetesClient();
  assert.deepEqual({ ...PatchStrategy }, { ...client.PatchStrategy });
});

test("setHeaderOptions appends a middleware that sets the header the way the client's does", async () => {
  const client = await loadKubernetesClient();
  const first = setHeaderOptions("X-One", "1");
  const both = setHeaderOptions("Content-Type", PatchStrategy.MergePatch, first);
  assert.equal(both.middleware?.length, 2);
  assert.equal(both.middlewareMergeStrategy, "append");
  const headers: Record<string, string> = {};
  const context = { setHeaderParam: (k: string, v: string) => (headers[k] = v) } as unknown as Parameters<NonNullable<typeof both.middleware>[number]["pre"]>[0];
  for (const m of both.middleware!) await m.pre(context).toPromise();
  assert.deepEqual(headers, { "X-One": "1", "Content-Type": "application/merge-patch+json" });
  // The same as the client's own option would do.
  const theirs: Record<string, string> = {};
  const theirContext = { setHeaderParam: (k: string, v: string) => (theirs[k] = v) } as unknown as typeof context;
  for (const m of client.setHeaderOptions("Content-Type", PatchStrategy.MergePatch, client.setHeaderOptions("X-One", "1")).middleware!) await m.pre(theirContext).toPromise();
  assert.deepEqual(theirs, headers);
});
