// /etc/rancher/k3s/registries.yaml: k3s reads it once at start, so it is a
// file written before the container starts (not something setup can do).
//  1. Docker Hub pulls go through k3sbox's shared mirror (k3s({ mirror })) and
//     the Docker daemon's own `registry-mirrors` when there are any, with
//     Docker Hub itself as the fallback endpoint.
//  2. The in-cluster registry is addressed as `<key>.internal:5000` in image
//     references, but containerd pulls from the hostNetwork pod on loopback.

import { SELF_SERVICE_TOKEN } from "../service.ts";

export const REGISTRY_PORT = 5000;

const q = (s: string) => JSON.stringify(s); // YAML accepts JSON strings

/** Returns the file content, or null when there is nothing to configure. */
export function buildRegistriesYaml(opts: { registry: boolean; dockerHubMirrors: string[]; sharedMirrors?: Record<string, string> }): string | null {
  // Per registry: k3sbox's shared pull-through mirror (lib/images/mirror.ts)
  // first, then (Docker Hub) the daemon's own mirrors, then the registry itself.
  const endpoints = new Map<string, string[]>();
  for (const [name, endpoint] of Object.entries(opts.sharedMirrors ?? {})) endpoints.set(name, [endpoint]);
  if (opts.dockerHubMirrors.length > 0) endpoints.set("docker.io", [...(endpoints.get("docker.io") ?? []), ...opts.dockerHubMirrors]);
  if (!opts.registry && endpoints.size === 0) return null;
  const lines = ["mirrors:"];
  for (const [name, list] of endpoints) {
    lines.push(`  ${q(name)}:`, "    endpoint:");
    for (const m of [...list, name === "docker.io" ? "https://registry-1.docker.io" : `https://${name}`]) lines.push(`      - ${q(m)}`);
  }
  if (opts.registry) {
    const loopback = `127.0.0.1:${REGISTRY_PORT}`;
    lines.push(
      `  ${q(`${SELF_SERVICE_TOKEN}.internal:${REGISTRY_PORT}`)}:`,
      "    endpoint:",
      `      - ${q(`http://${loopback}`)}`,
      "configs:",
      `  ${q(loopback)}:`,
      "    tls:",
      "      insecure_skip_verify: true",
    );
  }
  return lines.join("\n") + "\n";
}
