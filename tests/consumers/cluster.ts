// Copied into each consumer project by tests/consumers/run.sh.
//
// The cluster the consumer tests start: k3s() as a user writes it, but run on
// the k3s-compatible TEST image (K3SBOX_TESTBED_IMAGE, unprivileged), because
// real rancher/k3s cannot run on the machines these tests run on.
import { readdirSync, readFileSync } from "node:fs";
import { k3s, type K3sHelpers, type ServiceDefinition } from "k3sbox";

export function k3sOnTestImage(): ServiceDefinition<K3sHelpers> {
  const image = process.env.K3SBOX_TESTBED_IMAGE;
  if (!image) throw new Error("K3SBOX_TESTBED_IMAGE is not set (run `bash scripts/setup.sh --tests`)");
  return { ...k3s({ registry: false }), image: { type: "registry", reference: image }, privileged: false };
}

/**
 * The command line of this process's crash watchdog (k3sbox starts it with
 * the first environment: `<runtime> …/reaper-main.<ext> --reap <session> <pid>`),
 * found in /proc; undefined when none runs.
 */
export function watchdogCommand(): string | undefined {
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    let args: string[];
    try {
      args = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    } catch {
      continue; // gone meanwhile
    }
    if (args.includes("--reap") && args.at(-2) === String(process.pid)) return args.join(" ");
  }
  return undefined;
}
