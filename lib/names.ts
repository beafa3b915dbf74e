// DNS names as k3sbox checks them wherever a name becomes a hostname, a
// network alias, a certificate name or a Kubernetes object name: one rule,
// so a name accepted in one place is not refused in another.

/** RFC 1123 label, lowercase: 1-63 letters, digits or "-", not starting or ending with "-". */
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** Kubernetes' DNS-1123 subdomain (object names): its labels are not limited to 63 characters. */
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** A lowercase DNS label, at most `maxLength` (≤ 63) characters. */
export function isDnsLabel(label: unknown, maxLength = 63): label is string {
  return typeof label === "string" && label.length <= maxLength && LABEL.test(label);
}

/** Lowercase DNS labels joined by dots, at most 253 characters, with at least `minLabels` labels. */
export function isDnsName(name: unknown, minLabels = 1): name is string {
  if (typeof name !== "string" || name.length > 253) return false;
  const labels = name.split(".");
  return labels.length >= minLabels && labels.every((l) => LABEL.test(l));
}

/** A name most Kubernetes kinds take (metadata.name): a DNS-1123 subdomain of at most 253 characters. */
export function isKubernetesName(name: unknown): name is string {
  return typeof name === "string" && name.length <= 253 && DNS1123_SUBDOMAIN.test(name);
}
