// Per-test isolation: `namespace(prefix?)` creates a uniquely named
// namespace, waits until pods can be created in it (its default
// ServiceAccount exists), and deletes it at `await using` of the handle, at
// `remove()`, or when the environment stops — whichever comes first.

import { checkTimeoutMs } from "../limits.ts";
import type { CoreV1Api } from "../../deps.ts";
import { KubeApiError } from "./errors.ts";
import type { Tagged } from "./tagging.ts";
import { sleep } from "../sleep.ts";
import { isDnsLabel } from "../names.ts";

export const NAMESPACE_LABEL = "app.kubernetes.io/managed-by";
export const NAMESPACE_READY_TIMEOUT_MS = 30_000;
const POLL_MS = 100;
const SUFFIX_LENGTH = 6;
const MAX_PREFIX = 63 - SUFFIX_LENGTH - 1;

/** `test-x7k2qd`: the prefix (validated) and a random suffix. */
export function namespaceName(prefix: unknown = "test"): string {
  if (!isDnsLabel(prefix, MAX_PREFIX)) {
    throw new TypeError(
      `namespace(): prefix must be lowercase letters, digits and "-" (starting and ending with a letter or digit, at most ${MAX_PREFIX} characters) such as "orders"; got ${
        JSON.stringify(prefix)
      }`,
    );
  }
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  const bytes = crypto.getRandomValues(new Uint8Array(SUFFIX_LENGTH));
  return `${prefix}-${Array.from(bytes, (b) => alphabet[b % alphabet.length]).join("")}`;
}

export interface NamespaceRemoveOptions {
  /** Wait until the namespace is gone (its objects deleted). Default false. */
  wait?: boolean;
  /** Deadline of that wait. Default 60 s. */
  timeoutMs?: number;
}

const isNotFound = (err: unknown) => err instanceof KubeApiError && err.code === 404;

/** Tracks the namespaces one set of helpers created, so the environment's stop can remove the rest. */
export class NamespaceRegistry {
  #live = new Set<string>();
  constructor(private readonly core: Tagged<CoreV1Api>) {}

  /** Creates the namespace and waits for its default ServiceAccount. */
  async create(prefix?: string, opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<string> {
    const timeoutMs = checkTimeoutMs(opts.timeoutMs ?? NAMESPACE_READY_TIMEOUT_MS, 'namespace(): option "timeoutMs"');
    const name = namespaceName(prefix);
    await this.core.createNamespace({ body: { metadata: { name, labels: { [NAMESPACE_LABEL]: "k3sbox" } } } });
    this.#live.add(name);
    const deadline = Date.now() + timeoutMs;
    while (true) {
      try {
        await this.core.readNamespacedServiceAccount({ name: "default", namespace: name });
        return name;
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      if (Date.now() >= deadline || opts.signal?.aborted) {
        await this.remove(name).catch(() => {});
        throw new Error(
          `namespace(): ${name} has no default ServiceAccount after ${timeoutMs / 1000}s (is the controller-manager running?); the namespace was deleted again`,
        );
      }
      await sleep(POLL_MS);
    }
  }

  /** Deletes a namespace (already gone is fine); with `wait`, until the API no longer has it. */
  async remove(name: string, opts: NamespaceRemoveOptions = {}): Promise<void> {
    const timeoutMs = checkTimeoutMs(opts.timeoutMs ?? 60_000, 'remove(): option "timeoutMs"');
    try {
      await this.core.deleteNamespace({ name });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    this.#live.delete(name);
    if (!opts.wait) return;
    const deadline = Date.now() + timeoutMs;
    let phase = "?";
    while (true) {
      try {
        const ns = await this.core.readNamespace({ name });
        const stuck = ns.status?.conditions?.filter((c) => c.status === "True").map((c) => `${c.type}: ${c.message}`) ?? [];
        phase = `${ns.status?.phase ?? "?"}${stuck.length ? `; ${stuck.join("; ")}` : ""}`;
      } catch (err) {
        if (isNotFound(err)) return;
        throw err;
      }
      if (Date.now() >= deadline) throw new Error(`namespace ${name} still exists after ${timeoutMs / 1000}s (phase ${phase})`);
      await sleep(POLL_MS * 2);
    }
  }

  /** Namespaces created here and not removed yet. */
  live(): string[] {
    return [...this.#live];
  }

  /** Deletes every namespace still live (no wait); errors are collected, not thrown one by one. */
  async removeAll(): Promise<void> {
    const results = await Promise.allSettled(this.live().map((n) => this.remove(n)));
    const failed = results.filter((r) => r.status === "rejected") as PromiseRejectedResult[];
    if (failed.length > 0) throw new AggregateError(failed.map((f) => f.reason), `could not delete ${failed.length} namespace(s)`);
  }
}
