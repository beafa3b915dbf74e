// `k3sbox smoke`: boot a cluster, deploy a demo app behind an Ingress, fetch
// it over HTTPS through Traefik (certificate verified against the
// environment's CA), tear down, and report how long each phase took.

import { waitForDeployment } from "../k3s/setup.ts";
import type { K3sHelpers } from "../k3s/k3s.ts";
import type { ServiceDefinition } from "../service.ts";
import { type Environment, startEnvironment } from "../runner/environment.ts";
import { stringifyYaml } from "../../deps.ts";

export const SMOKE_DOMAIN = "k3sbox.test";
export const DEMO_IMAGE = "traefik/whoami:v1.10.3";
const FETCH_TIMEOUT_MS = 60_000;

export function demoManifest(host: string): string {
  const labels = { app: "hello" };
  return [
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "hello", namespace: "default", labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: { metadata: { labels }, spec: { containers: [{ name: "whoami", image: DEMO_IMAGE, ports: [{ containerPort: 80 }] }] } },
      },
    },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "hello", namespace: "default" },
      spec: { selector: labels, ports: [{ port: 80, targetPort: 80 }] },
    },
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "Ingress",
      metadata: { name: "hello", namespace: "default" },
      spec: {
        rules: [{
          host,
          http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: "hello", port: { number: 80 } } } }] },
        }],
      },
    },
  ].map((o) => stringifyYaml(o)).join("---\n");
}

export interface SmokeReport {
  ok: boolean;
  /** Phase → milliseconds, in order. */
  phases: Record<string, number>;
  /** Start-up breakdown from the runner (preflight, containers, ready, setup, …). */
  startup: Record<string, number>;
  error?: string;
  timeline?: string;
}

export async function smoke(cluster: ServiceDefinition<K3sHelpers>, progress: (m: string) => void): Promise<SmokeReport> {
  const phases: Record<string, number> = {};
  const report: SmokeReport = { ok: false, phases, startup: {} };
  const phase = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    progress(`${name}…`);
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      phases[name] = Math.round(performance.now() - t0);
    }
  };
  let env: Environment<{ k8s: ServiceDefinition<K3sHelpers> }> | undefined;
  try {
    env = await phase("start cluster", () => startEnvironment({ services: { k8s: cluster }, onProgress: progress }));
    report.startup = env.timings;
    const host = `hello.${SMOKE_DOMAIN}`;
    const k8s = env.svc.k8s;
    await phase("deploy demo app", () => k8s.apply(demoManifest(host)));
    await phase("wait for rollout", () => waitForDeployment("k8s", k8s, { name: "hello", namespace: "default", timeoutMs: 120_000, progress }));
    await phase(`HTTPS GET https://${host}/ via Traefik`, async () => {
      const deadline = Date.now() + FETCH_TIMEOUT_MS;
      let last = "";
      while (Date.now() < deadline) {
        try {
          const res = await env!.fetch(`https://${host}/`);
          const body = await res.text();
          if (res.status === 200 && body.includes("Hostname:")) return;
          last = `HTTP ${res.status}: ${body.slice(0, 200)}`;
        } catch (err) {
          last = (err as Error).message;
        }
        await new Promise((r) => setTimeout(r, 250));
      }
      throw new Error(`https://${host}/ did not answer 200 from the demo app within ${FETCH_TIMEOUT_MS / 1000}s (last: ${last})`);
    });
    report.ok = true;
  } catch (err) {
    report.error = (err as Error).message;
  } finally {
    report.timeline = env?.timeline();
    if (env) await phase("teardown", () => env!.stop());
  }
  return report;
}
