// Server-side apply of 100 objects: k3sbox's apply() through its client vs
// `kubectl apply --server-side` of the same manifest, on the same real
// kube-apiserver (the control-plane test bed). Alternating rounds, each side
// into a fresh namespace (creates), then the same manifest again (no-op
// applies). Prints medians and the ratio.
//
//   K3SBOX_TESTBED_BIN=… bun bench/apply.ts [rounds]     (or deno run -A bench/apply.ts)

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createKubeHelpers, loadKubeconfig } from "../lib/kube/client.ts";
import { run } from "../lib/exec.ts";
import { runtime } from "../lib/runtime.ts";
import { startControlPlane } from "../tests/support/controlplane.ts";

const ROUNDS = Number(process.argv[2] ?? 5);
const OBJECTS = 100;

const manifest = (namespace: string) =>
  Array.from({ length: OBJECTS }, (_, i) =>
    `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-${i}\n  namespace: ${namespace}\n  labels: {bench: apply}\ndata:\n  index: "${i}"\n  payload: "${"x".repeat(200)}"\n`).join("---\n");

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const cp = await startControlPlane();
const h = await createKubeHelpers(await loadKubeconfig(cp.kubeconfigYaml));
const dir = await mkdtemp(join(tmpdir(), "k3sbox-bench-apply-"));
try {
  const kubeconfig = join(dir, "config.yaml");
  await writeFile(kubeconfig, cp.kubeconfigYaml, { mode: 0o600 });
  const kubectlApply = async (file: string) => {
    const r = await run("kubectl", ["--kubeconfig", kubeconfig, "apply", "--server-side", "--field-manager=kubectl-bench", "-f", file], { timeoutMs: 120_000 });
    if (r.code !== 0) throw new Error(`kubectl apply: ${r.stderr}`);
  };
  const times = { k3sboxCreate: [] as number[], kubectlCreate: [] as number[], k3sboxAgain: [] as number[], kubectlAgain: [] as number[] };
  for (let round = 0; round < ROUNDS; round++) {
    const nsA = `bench-k3sbox-${round}`;
    const nsB = `bench-kubectl-${round}`;
    await h.apply([{ apiVersion: "v1", kind: "Namespace", metadata: { name: nsA } }, { apiVersion: "v1", kind: "Namespace", metadata: { name: nsB } }]);
    const fileB = join(dir, `${nsB}.yaml`);
    await writeFile(fileB, manifest(nsB));
    const textA = manifest(nsA);
    for (const again of [false, true]) {
      // Alternate which side goes first, so neither always meets a warmer server.
      const sides = [
        async () => {
          const t0 = performance.now();
          const applied = await h.apply(textA);
          if (applied.length !== OBJECTS) throw new Error(`applied ${applied.length}`);
          (again ? times.k3sboxAgain : times.k3sboxCreate).push(performance.now() - t0);
        },
        async () => {
          const t0 = performance.now();
          await kubectlApply(fileB);
          (again ? times.kubectlAgain : times.kubectlCreate).push(performance.now() - t0);
        },
      ];
      if (round % 2 === 1) sides.reverse();
      for (const side of sides) await side();
    }
  }
  const a = (await h.client.core.listNamespacedConfigMap({ namespace: "bench-k3sbox-0", labelSelector: "bench=apply" })).items.length;
  const b = (await h.client.core.listNamespacedConfigMap({ namespace: "bench-kubectl-0", labelSelector: "bench=apply" })).items.length;
  if (a !== OBJECTS || b !== OBJECTS) throw new Error(`expected ${OBJECTS} objects on each side, got ${a} and ${b}`);

  console.log(`server-side apply of ${OBJECTS} ConfigMaps, ${ROUNDS} rounds, median (${runtime}; kube-apiserver from the test bed)`);
  for (const [what, k, c] of [["create", times.k3sboxCreate, times.kubectlCreate], ["re-apply (no change)", times.k3sboxAgain, times.kubectlAgain]] as const) {
    const mk = median(k);
    const mc = median(c);
    console.log(
      `  ${what.padEnd(22)} k3sbox apply() ${mk.toFixed(0).padStart(5)} ms   kubectl apply --server-side ${mc.toFixed(0).padStart(5)} ms   ratio ${(mk / mc).toFixed(2)}x (${
        mk < mc ? "k3sbox faster" : "kubectl faster"
      })`,
    );
  }
} finally {
  await h.close();
  await cp.stop();
  await rm(dir, { recursive: true, force: true });
}
