// Small shared checks for tests that start environments and processes.
import { constants } from "node:os";
import { listByLabel } from "../../lib/docker.ts";
import { LABEL_ENV } from "../../lib/runner/labels.ts";

/** Names of the containers and networks an environment still has. */
export async function leftovers(envId: string): Promise<string[]> {
  const filter = [`${LABEL_ENV}=${envId}`];
  const [c, n] = await Promise.all([listByLabel("container", filter), listByLabel("network", filter)]);
  return [...c, ...n].map((o) => o.name);
}

/**
 * A child's exit as a shell reports it: its code, or 128 + the signal number
 * when a signal ended it (Deno ends with SIGINT itself after its handler ran,
 * where Bun and Node exit with 130).
 */
export function shellExitCode(code: number | null, signal: NodeJS.Signals | null): number | null {
  if (code !== null) return code;
  return signal ? 128 + constants.signals[signal] : null;
}
