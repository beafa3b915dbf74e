// Provenance wrapper: a value returned by a recorded call (a Kubernetes API
// result) carries a tag naming the event that produced it, and `.unwrap()`
// gives back the plain value. Objects and arrays are wrapped lazily with a
// Proxy; primitive leaves stay plain, so `expect(pod.status.phase).toBe("Running")`
// works unchanged in any test runner.

/** Link from a value to the recorder event that produced it. */
export interface Tag {
  sourceSeq?: number;
}

type Primitive = string | number | boolean | bigint | symbol | null | undefined;
// Values with internal slots: a Proxy around them breaks their methods.
type Opaque = Date | RegExp | Map<unknown, unknown> | Set<unknown> | ArrayBuffer | ArrayBufferView | Promise<unknown> | Error;

/** `T` with every nested object/array also wrapped, plus `.unwrap()`. */
export type Wrapped<T> = T extends Primitive | Opaque ? T
  // deno-lint-ignore ban-types
  : T extends Function ? T
  : { [K in keyof T]: Wrapped<T[K]> } & { unwrap(): T };

const RAW = Symbol("k3sbox.raw");
const TAG = Symbol("k3sbox.tag");

// Tags of objects that are not proxied (e.g. a recorded fetch Response).
const directTags = new WeakMap<object, Tag>();
// One proxy per (target, tag) so `pod.status === pod.status` holds.
const proxies = new WeakMap<object, Map<number | undefined, object>>();

function isWrappable(value: unknown): value is object {
  if (value === null || typeof value !== "object") return false;
  if (Array.isArray(value)) return true;
  return !(
    value instanceof Date || value instanceof RegExp || value instanceof Map || value instanceof Set ||
    value instanceof ArrayBuffer || ArrayBuffer.isView(value) || value instanceof Promise ||
    value instanceof Error || (typeof Response !== "undefined" && value instanceof Response)
  );
}

/**
 * Wraps `value` so it (and everything reachable from it) carries a tag for
 * `sourceSeq` and has `.unwrap()`. Primitives and opaque objects pass through.
 */
export function wrap<T>(value: T, sourceSeq?: number): Wrapped<T> {
  if (!isWrappable(value)) return value as Wrapped<T>;
  const target = readRaw(value) as object;
  let bySeq = proxies.get(target);
  if (!bySeq) proxies.set(target, (bySeq = new Map()));
  const cached = bySeq.get(sourceSeq);
  if (cached) return cached as Wrapped<T>;

  const tag: Tag = { sourceSeq };
  const proxy = new Proxy(target, {
    get(t, prop) {
      if (prop === RAW) return t;
      if (prop === TAG) return tag;
      if (prop === "unwrap" && !Object.prototype.hasOwnProperty.call(t, "unwrap")) return () => t;
      const v = Reflect.get(t, prop, t);
      return isWrappable(v) ? wrap(v, sourceSeq) : v;
    },
  });
  bySeq.set(sourceSeq, proxy);
  return proxy as Wrapped<T>;
}

/** The plain value behind a wrapper (or the value itself). */
export function readRaw<T>(value: T): T {
  if (value !== null && typeof value === "object") {
    const raw = (value as Record<symbol, unknown>)[RAW];
    if (raw !== undefined) return raw as T;
  }
  return value;
}

/** The provenance tag of a wrapped or directly tagged value, if any. */
export function readTag(value: unknown): Tag | undefined {
  if (value === null || typeof value !== "object") return undefined;
  return ((value as Record<symbol, unknown>)[TAG] as Tag | undefined) ?? directTags.get(value);
}

/** Tags an object in place without proxying it (used for fetch Responses). */
export function tagObject<T extends object>(value: T, tag: Tag): T {
  directTags.set(value, tag);
  return value;
}

/**
 * Removes wrappers recursively, for arguments passed back into an API: a
 * wrapped name must reach a URL template as the plain string.
 */
export function deepUnwrap<T>(value: T): T {
  const raw = readRaw(value);
  if (!isWrappable(raw)) return raw;
  if (Array.isArray(raw)) return raw.map(deepUnwrap) as T;
  const proto = Object.getPrototypeOf(raw);
  const out = Object.create(proto) as Record<string, unknown>;
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) out[k] = deepUnwrap(v);
  return out as T;
}
