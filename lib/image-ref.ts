// Docker image references, as pure functions: the grammar
// ([registry[:port]/]path[:tag][@digest]), whether a reference names a tag or
// digest, and the fully qualified name containerd stores it under.

const DOMAIN = "[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?";
const PATH_COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const REFERENCE = new RegExp(
  `^(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$`,
);
const LOWERCASE_PATH = new RegExp(`^${PATH_COMPONENT}$`);

/** Docker reads the first component as a registry only with a ".", a port or "localhost". */
function isRegistry(component: string): boolean {
  return component.includes(".") || component.includes(":") || component === "localhost";
}

/** A valid image reference by Docker's grammar (at most 512 characters). */
export function isImageReference(ref: unknown): ref is string {
  if (typeof ref !== "string" || ref.length > 512 || !REFERENCE.test(ref)) return false;
  const slash = ref.indexOf("/");
  if (slash === -1) return true;
  const first = ref.slice(0, slash);
  return isRegistry(first) || LOWERCASE_PATH.test(first);
}

/** Does the reference name a tag or a digest (a ":" after the last "/", or an "@")? */
export function hasTagOrDigest(reference: string): boolean {
  return reference.includes("@") || reference.slice(reference.lastIndexOf("/") + 1).includes(":");
}

/** "app:dev" → "docker.io/library/app:dev"; "ghcr.io/x/y" → "ghcr.io/x/y:latest" (how containerd and the kubelet name it). */
export function normalizeReference(reference: string): string {
  const slash = reference.indexOf("/");
  let named = reference;
  if (slash === -1) named = `docker.io/library/${reference}`;
  else if (!isRegistry(reference.slice(0, slash))) named = `docker.io/${reference}`;
  return hasTagOrDigest(named) ? named : `${named}:latest`;
}
