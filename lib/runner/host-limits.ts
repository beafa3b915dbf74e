// Limits of the Docker daemon's host that a container's log can show it ran
// into. They are host-wide, so a container that starts fine alone fails when
// other clusters are running, and its own error ("too many open files") does
// not say which limit or what to change. The commonest: inotify instances.
// Every kubelet, containerd and API server takes several, all processes of
// root in the host's user namespace share one budget (default 128), and a
// server with two agents takes about 35 of it, so the fourth such cluster on
// a machine fails (kind documents the same limit for its nodes).

import { logsTail, runThrowaway } from "../docker.ts";

/** How many log lines are read to look for a host limit (the display shows fewer). */
export const CAUSE_SCAN_LINES = 400;

const RAISE_INOTIFY = "Raise it on the Docker daemon's host: `sudo sysctl -w fs.inotify.max_user_instances=512 fs.inotify.max_user_watches=524288` " +
  "(and keep it in /etc/sysctl.d/ to survive a reboot); `k3sbox doctor` shows the current limits";

const CAUSES: { pattern: RegExp; cause: string }[] = [
  {
    // The kubelet's cAdvisor and its certificate watchers, containerd, the API server: inotify_init1 fails with EMFILE.
    pattern: /inotify_init[^\n]*too many open files|fsnotify watcher[^\n]*too many open files|initializing watcher[^\n]*too many open files/i,
    cause: "the Docker host's inotify instances are used up (fs.inotify.max_user_instances, shared by every container on the host: " +
      `each kubelet, containerd and API server takes several, a server with two agents about 35 of the default 128). ${RAISE_INOTIFY}`,
  },
  {
    // inotify_add_watch fails with ENOSPC when max_user_watches is reached: not a full disk.
    pattern: /inotify_add_watch[^\n]*no space left on device|(fsnotify|watch)[^\n]*no space left on device/i,
    cause: "the Docker host's inotify watches are used up (fs.inotify.max_user_watches; \"no space left on device\" here is that limit, not the disk). " + RAISE_INOTIFY,
  },
  {
    pattern: /no space left on device/i,
    cause: "the Docker daemon's disk is full (\"no space left on device\"): `docker system df` shows what takes it; `k3sbox prune` removes dead environments",
  },
];

/** The host limit a log shows, in one sentence with what to change, or undefined. */
export function hostLimitCause(log: string): string | undefined {
  return CAUSES.find((c) => c.pattern.test(log))?.cause;
}

/**
 * A container's last `shown` log lines, with the host limit its longer tail
 * shows (if any). Throws what logsTail throws.
 */
export async function logTailWithCause(container: string, shown: number): Promise<{ tail: string; cause?: string }> {
  const long = await logsTail(container, Math.max(shown, CAUSE_SCAN_LINES));
  const lines = long.trimEnd().split("\n");
  return { tail: lines.slice(-shown).join("\n"), cause: hostLimitCause(long) };
}

/** "\ncause: …" when there is a cause, else "". */
export function causeLine(cause: string | undefined): string {
  return cause ? `\ncause: ${cause}` : "";
}

/** inotify instances one cluster takes on the daemon's host (measured on the node image: kubelet 6, containerd 2, API server 6, controller-manager 5; an agent 8). */
export const INOTIFY_PER_CLUSTER = { server: 19, agent: 8 } as const;
/** What kind recommends and k3sbox's own test bed sets. */
export const INOTIFY_RECOMMENDED = { maxUserInstances: 512, maxUserWatches: 524288 } as const;

export interface InotifyLimits {
  maxUserInstances: number;
  maxUserWatches: number;
}

/**
 * The daemon host's inotify limits, read in a throwaway container of `image`
 * (a container in the host's user namespace sees the host's values).
 */
export async function readInotifyLimits(image: string): Promise<InotifyLimits> {
  const out = await runThrowaway({
    image, entrypoint: "cat", command: ["/proc/sys/fs/inotify/max_user_instances", "/proc/sys/fs/inotify/max_user_watches"],
  }, { timeoutMs: 30_000 });
  const [instances, watches] = out.trim().split(/\s+/).map(Number);
  if (!Number.isInteger(instances) || !Number.isInteger(watches)) throw new Error(`unexpected /proc/sys/fs/inotify values: ${JSON.stringify(out.trim())}`);
  return { maxUserInstances: instances, maxUserWatches: watches };
}

/** Advice when the limits are below what several clusters at once need, else undefined. */
export function inotifyAdvice(l: InotifyLimits): string | undefined {
  if (l.maxUserInstances >= INOTIFY_RECOMMENDED.maxUserInstances && l.maxUserWatches >= INOTIFY_RECOMMENDED.maxUserWatches) return undefined;
  const single = Math.floor(l.maxUserInstances / INOTIFY_PER_CLUSTER.server);
  const three = Math.floor(l.maxUserInstances / (INOTIFY_PER_CLUSTER.server + 2 * INOTIFY_PER_CLUSTER.agent));
  return `fs.inotify.max_user_instances is ${l.maxUserInstances} and max_user_watches ${l.maxUserWatches} on the daemon's host: enough for about ${single} ` +
    `single-node clusters (${three} with two agents) at once, fewer beside other inotify users; past that a kubelet fails with "too many open files". ` +
    RAISE_INOTIFY.replace(/; `k3sbox doctor`.*$/, "");
}
