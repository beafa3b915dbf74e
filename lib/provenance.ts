// Provenance for values returned by recorded calls (Kubernetes API results):
// every object and array reachable from a result is tagged with the event
// that produced it (`readTag`) and gets a non-enumerable `.unwrap()`.
//
// The tagging is done in place, not with a Proxy: a result stays a plain
// object, so `expect(cm.data).toStrictEqual({ x: "1" })`, `structuredClone`,
// `JSON.stringify` and `node:assert`'s deepStrictEqual all see plain data
// (they ignore non-enumerable properties), and primitive leaves are plain
// values (`expect(pod.status.phase).toBe("Running")`).

/**
 * Link from a value to the recorder event that produced it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readTag, type Tag, wrap } from "k3sbox";
 *
 * const tag: Tag | undefined = readTag(wrap({ kind: "Pod" }, 4));
 * assert.equal(tag?.sourceSeq, 4);
 * ```
 */
export interface Tag {
  sourceSeq?: number;
}

type Primitive = string | number | boolean | bigint | symbol | null | undefined;
// Values with internal slots, left as they are.
type Opaque = Date | RegExp | Map<unknown, unknown> | Set<unknown> | ArrayBuffer | ArrayBufferView | Promise<unknown> | Error;

/**
 * `T` with every nested object/array also carrying `.unwrap()`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { wrap, type Wrapped } from "k3sbox";
 *
 * const cm: Wrapped<{ data: { color: string } }> = wrap({ data: { color: "blue" } });
 * assert.deepEqual(cm.data.unwrap(), { color: "blue" });
 * ```
 */
export type Wrapped<T> = T extends Primitive | Opaque ? T
  // deno-lint-ignore ban-types
  : T extends Function ? T
  : { [K in keyof T]: Wrapped<T[K]> } & { unwrap(): T };

const tags = new WeakMap<object, Tag>();

function isWrappable(value: unknown): value is object {
  if (value === null || typeof value !== "object") return false;
  if (Array.isArray(value)) return true;
  return !(
    value instanceof Date || value instanceof RegExp || value instanceof Map || value instanceof Set ||
    value instanceof ArrayBuffer || ArrayBuffer.isView(value) || value instanceof Promise ||
    value instanceof Error || (typeof Response !== "undefined" && value instanceof Response)
  );
}

// One shared function, so inspecting a result shows `[Function: unwrap]`.
function unwrap(this: unknown) {
  return this;
}

/**
 * Tags `value` and every object/array reachable from it with `sourceSeq`
 * and gives each a non-enumerable `.unwrap()` (which returns the object
 * itself: it already is the plain value). Primitives and opaque objects pass
 * through. The first tag an object gets is kept.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readTag, wrap } from "k3sbox";
 *
 * const pod = wrap({ metadata: { name: "web-0" }, status: { phase: "Running" } }, 7);
 * assert.equal(pod.status.phase, "Running"); // leaves are plain values
 * assert.equal(readTag(pod.metadata)?.sourceSeq, 7); // every object carries the event that produced it
 * assert.deepStrictEqual(pod, { metadata: { name: "web-0" }, status: { phase: "Running" } }); // and compares as plain data
 * ```
 */
export function wrap<T>(value: T, sourceSeq?: number): Wrapped<T> {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (!isWrappable(v) || tags.has(v)) continue; // tags.has also stops cycles
    tags.set(v, { sourceSeq });
    if (!Object.prototype.hasOwnProperty.call(v, "unwrap") && Object.isExtensible(v)) {
      Object.defineProperty(v, "unwrap", { value: unwrap, enumerable: false, configurable: true, writable: true });
    }
    for (const child of Object.values(v)) if (isWrappable(child)) stack.push(child);
  }
  return value as Wrapped<T>;
}

/**
 * The provenance tag of a wrapped or tagged value, if any.
 *
 * Results of the Kubernetes client (`env.svc.<key>.client`) are tagged with
 * the recorded call that produced them, so a test can find that call in
 * `env.events()`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readTag, Recorder } from "k3sbox";
 *
 * const recorder = new Recorder();
 * const recordedFetch = recorder.fetch(() => Promise.resolve(new Response("ok")));
 * const res = await recordedFetch("https://api.test/healthz");
 * const event = recorder.events().find((e) => e.seq === readTag(res)?.sourceSeq);
 * assert.equal(event?.status, 200);
 * ```
 */
export function readTag(value: unknown): Tag | undefined {
  if (value === null || typeof value !== "object") return undefined;
  return tags.get(value);
}

/** Tags an object without touching its properties (used for fetch Responses). */
export function tagObject<T extends object>(value: T, tag: Tag): T {
  tags.set(value, tag);
  return value;
}

/**
 * A deep copy without tags or `.unwrap()`, keeping prototypes, for arguments
 * passed back into an API (which may mutate them, e.g. to default a namespace).
 */
export function deepUnwrap<T>(value: T): T {
  if (!isWrappable(value)) return value;
  if (Array.isArray(value)) return value.map(deepUnwrap) as T;
  const out = Object.create(Object.getPrototypeOf(value)) as Record<string, unknown>;
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = deepUnwrap(v);
  return out as T;
}
