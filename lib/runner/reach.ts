// The fail-fast check that the topology's address really reaches the
// environment (docker/topology.ts): right after the containers start, before
// any readiness wait, this process connects to their published ports. A
// wrong address then fails in seconds, naming the address, the topology and
// what to set, instead of looking like a cluster that is slow to boot.
//
// What counts as proof: a TCP connection that opens. Docker's port proxy
// (and rootlesskit's, Podman's) accepts on the published port as soon as the
// container runs, whether or not the service listens yet. Where nothing
// proxies (this process dials a container on a shared network, or Docker
// forwards a remote connection with NAT only), a refusal comes from the
// container itself, which proves the route as well; such a refusal counts
// only where no other host could have sent it (network mode), else the
// probe keeps trying until the window ends.

import { readFile } from "node:fs/promises";
import { tcpConnect, type Topology } from "../docker/topology.ts";
import { hostPortOf } from "../service.ts";

export interface ReachTarget {
  service: string;
  host: string;
  port: number;
  /** The container port it leads to (for messages). */
  containerPort: number;
}

/** The environment's published ports cannot be reached from this process. */
export class UnreachableError extends Error {
  constructor(readonly topology: Topology, readonly tried: ReachTarget[], readonly saw: string, readonly waitedMs: number) {
    const where = tried.map((t) => `${hostPortOf(t.host, t.port)} (service "${t.service}" port ${t.containerPort})`).join(", ");
    super(
      `k3sbox cannot reach the environment's containers from this process: tried ${where} for ${(waitedMs / 1000).toFixed(1)} s; last: ${saw}.\n` +
        `Topology: ${topology.kind} — ${topology.reason}.\n` +
        `To change it: ${topology.hint}.`,
    );
    this.name = "UnreachableError";
  }
}

/** How long refusals from a tcp:// daemon's host are taken for "not listening yet" (see proveReachable). */
export const REMOTE_REFUSED_WINDOW_MS = 30_000;

/**
 * Resolves once any target accepts a connection (or, in network mode,
 * answers at all); rejects with `UnreachableError` after `windowMs`.
 */
export async function proveReachable(topology: Topology, targets: ReachTarget[], windowMs = 3_000, signal?: AbortSignal): Promise<number> {
  if (targets.length === 0) return 0;
  const started = Date.now();
  let saw = "nothing yet";
  while (true) {
    signal?.throwIfAborted();
    const left = windowMs - (Date.now() - started);
    const results = await Promise.all(targets.map((t) => tcpConnect(t.host, t.port, Math.max(200, Math.min(1_000, left)))));
    if (results.some((r) => r.outcome === "open" || (r.outcome === "refused" && topology.mode === "network"))) return Date.now() - started;
    saw = results.map((r, i) => `${hostPortOf(targets[i].host, targets[i].port)}: ${r.detail}`).join("; ");
    // A remote daemon (tcp://) forwards a connection from outside with NAT,
    // not its port proxy: until the service listens, the container itself
    // refuses. Refusals there get the longer window; silence does not.
    const refusedOnly = results.every((r) => r.outcome === "refused");
    // An engine that forwards local connections with NAT too (Podman's CNI
    // portmap, Docker without its userland proxy) only holds the published
    // port open (conmon binds it) and the container refuses until the
    // service listens. A listening socket at the dialled address and port in
    // this process's own network namespace proves the address right.
    if (refusedOnly && topology.kind !== "tcp" && (await boundHere(targets))) return Date.now() - started;
    const window = refusedOnly && topology.kind === "tcp" ? REMOTE_REFUSED_WINDOW_MS : windowMs;
    if (Date.now() - started >= window) throw new UnreachableError(topology, targets, saw, Date.now() - started);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `/proc/net/tcp{,6}` address (hex, little-endian words) → text IP. */
function procAddress(hex: string): string {
  if (hex.length === 8) return [3, 2, 1, 0].map((i) => parseInt(hex.slice(i * 2, i * 2 + 2), 16)).join(".");
  const words = hex.match(/.{8}/g) ?? [];
  const bytes = words.flatMap((w) => [3, 2, 1, 0].map((i) => w.slice(i * 2, i * 2 + 2)));
  const groups = [];
  for (let i = 0; i < 16; i += 2) groups.push(parseInt(bytes[i] + bytes[i + 1], 16).toString(16));
  const v6 = groups.join(":");
  return v6.startsWith("0:0:0:0:0:ffff:") ? procAddress(hex.slice(24)) : v6 === "0:0:0:0:0:0:0:0" ? "::" : v6;
}

/** Listening TCP sockets of this network namespace: "ip:port" strings (pure parse of /proc/net/tcp text, for tests). */
export function listeningSockets(procNetTcp: string): string[] {
  const out: string[] = [];
  for (const line of procNetTcp.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4 || f[3] !== "0A") continue;
    const [addr, port] = f[1].split(":");
    out.push(`${procAddress(addr)}:${parseInt(port, 16)}`);
  }
  return out;
}

/** Is any target's port bound here, at its address or a wildcard (Linux /proc; false elsewhere)? */
async function boundHere(targets: ReachTarget[]): Promise<boolean> {
  const text = (await Promise.all(["/proc/net/tcp", "/proc/net/tcp6"].map((f) => readFile(f, "utf8").catch(() => "")))).join("\n");
  const listening = new Set(listeningSockets(text));
  return targets.some((t) => [t.host, "0.0.0.0", "::"].some((a) => listening.has(`${a}:${t.port}`)));
}

/** Connection errors that mean "cannot reach", not "not ready yet" (for readiness messages). */
export const CANNOT_REACH = /ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|EADDRNOTAVAIL|ETIMEDOUT|ECONNRESET/;
