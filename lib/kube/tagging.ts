// Wraps a client-node API object so every method call runs in its own async
// slot, its arguments are unwrapped on the way in, its result comes back
// wrapped with the tag of the HTTP event it produced, and an API error is
// turned into a KubeApiError that reads like the timeline.

import type { KubernetesClientModule } from "../../deps.ts";
import { deepUnwrap, wrap, type Wrapped } from "../provenance.ts";
import { type CallSlot, callSlots } from "./call-slot.ts";
import { KubeApiError } from "./errors.ts";

/** Same methods as `T`, but each promise resolves to a wrapped value. */
export type Tagged<T> = {
  [K in keyof T]: T[K] extends (...args: infer A) => Promise<infer R> ? (...args: A) => Promise<Wrapped<R>> : T[K];
};

/** `ApiException`: the loaded client's error class (deps.ts loads the client lazily). */
export function withTagging<T extends object>(api: T, ApiException: KubernetesClientModule["ApiException"]): Tagged<T> {
  return new Proxy(api, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        const slot: CallSlot = {};
        const result = callSlots.run(slot, () => value.apply(target, args.map(deepUnwrap)));
        if (!(result instanceof Promise)) return wrap(result, slot.seq);
        return result.then(
          (v) => wrap(v, slot.seq),
          (err) => {
            throw err instanceof ApiException ? KubeApiError.from(err, slot) : err;
          },
        );
      };
    },
  }) as unknown as Tagged<T>;
}
