// The k3s server command line and its /bin/sh start-up wrapper.
//
// The wrapper runs under `/bin/sh -c`, so every argument is shell-quoted:
// no option value (extraArgs come from users) can end the word it is in.

import { REACH_HOSTS_TOKEN, SELF_SERVICE_TOKEN } from "../service.ts";
import type { ResolvedK3sOptions } from "./options.ts";
import { CACHE_MOUNT_DIR } from "../images/cache.ts";
import { linkCachedImagesScript } from "./node-images.ts";
import { shellQuote } from "../shell-quote.ts";

/** Where the wrapper writes the resolv.conf k3s hands to CoreDNS. */
export const RESOLV_CONF_PATH = "/run/k3sbox-resolv.conf";


/** `k3s server` argv, in the reference's order, then the TLS SANs, then extraArgs. */
export function k3sServerArgs(opts: ResolvedK3sOptions): string[] {
  return [
    "k3s",
    "server",
    // CoreDNS upstream: the file the wrapper writes (see k3sStartupScript).
    `--resolv-conf=${RESOLV_CONF_PATH}`,
    "--disable=metrics-server",
    // Traefik and ServiceLB are replaced by our hostNetwork Traefik (setup.ts).
    "--disable=traefik",
    "--disable=servicelb",
    // Pods and services off 10.42/10.43 so they never shadow a host bridge there.
    "--cluster-cidr=10.44.0.0/16",
    "--service-cidr=10.45.0.0/16",
    "--cluster-dns=10.45.0.10",
    "--flannel-backend=host-gw",
    "--write-kubeconfig-mode=644",
    "--kube-proxy-arg=proxy-mode=nftables",
    // Every name the helpers and peers use for the API server, so TLS verifies.
    "--tls-san=127.0.0.1",
    "--tls-san=localhost",
    `--tls-san=${SELF_SERVICE_TOKEN}`,
    `--tls-san=${SELF_SERVICE_TOKEN}.internal`,
    // Where this process reaches the API server (docker/topology.ts), e.g. a tcp:// daemon's host.
    `--tls-san=${REACH_HOSTS_TOKEN}`,
    ...opts.extraArgs,
  ];
}

/**
 * The container command: link the cached images k3sbox mounted into the
 * airgap directory, find the default gateway, write it as the resolv.conf
 * k3s uses, then exec k3s (so it stays PID 1 and gets signals).
 */
export function k3sStartupScript(opts: ResolvedK3sOptions): string {
  const conf = shellQuote(RESOLV_CONF_PATH);
  return [
    linkCachedImagesScript(CACHE_MOUNT_DIR),
    `GW="$(ip route 2>/dev/null | awk '/^default/{print $3; exit}')"`,
    `if [ -n "$GW" ]; then printf 'nameserver %s\\noptions ndots:0\\n' "$GW" > ${conf}; ` +
    `else echo 'k3sbox: no default route in the container; pods cannot resolve names outside the cluster' >&2; : > ${conf}; fi`,
    `exec ${k3sServerArgs(opts).map(shellQuote).join(" ")}`,
  ].join("; ");
}

/** In-container readiness probe: the API server's /readyz through k3s's kubectl. */
export const K3S_READY_COMMAND = "kubectl get --raw=/readyz >/dev/null 2>&1";
