// kubectl as the composition tests use it: the testbed's build when there is
// one, with a kubeconfig k3sbox wrote, failing loudly on a non-zero exit.

import { run } from "../../lib/exec.ts";
import { TESTBED_BIN } from "./controlplane.ts";

export const kubectlBin = TESTBED_BIN ? `${TESTBED_BIN}/kubectl` : "kubectl";

/** `kubectl --kubeconfig <kubeconfig> …args`, resolving to its stdout; a non-zero exit throws with its stderr. */
export function kubectlWith(kubeconfig: string): (...args: string[]) => Promise<string> {
  return async (...args) => {
    const r = await run(kubectlBin, ["--kubeconfig", kubeconfig, ...args], { timeoutMs: 60_000 });
    if (r.code !== 0) throw new Error(`kubectl ${args.join(" ")}: exit ${r.code}: ${r.stderr.trim()}`);
    return r.stdout;
  };
}
