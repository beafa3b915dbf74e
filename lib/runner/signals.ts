// SIGINT/SIGTERM while environments are running: stop them all, then exit
// with the conventional code. Handlers are installed only while at least one
// environment is live, so an idle process keeps its default signal behaviour.

interface Stoppable {
  stop(): Promise<void>;
}

const live = new Set<Stoppable>();
const SIGNALS = { SIGINT: 130, SIGTERM: 143 } as const;
let stopping = false;

async function onSignal(signal: keyof typeof SIGNALS): Promise<void> {
  if (stopping) return; // a second Ctrl-C while cleaning up: keep cleaning
  stopping = true;
  process.stderr.write(`\nk3sbox: ${signal} received, removing ${live.size} environment(s)…\n`);
  await Promise.allSettled([...live].map((e) => e.stop()));
  process.exit(SIGNALS[signal]);
}

const handlers = {
  SIGINT: () => void onSignal("SIGINT"),
  SIGTERM: () => void onSignal("SIGTERM"),
};

/**
 * `p`, except that a rejection while SIGINT/SIGTERM is removing the
 * environments waits instead: the handler exits the process with 130/143
 * when done, and a start (or a helper) failing because of it must not end
 * the process first, with exit 1.
 */
export function unlessExitingOnSignal<T>(p: Promise<T>): Promise<T> {
  return p.catch((err) => (stopping ? new Promise<never>(() => {}) : Promise.reject(err)));
}

export function trackEnvironment(env: Stoppable): void {
  if (live.size === 0) for (const s of Object.keys(handlers) as (keyof typeof handlers)[]) process.on(s, handlers[s]);
  live.add(env);
}

export function untrackEnvironment(env: Stoppable): void {
  if (!live.delete(env) || live.size > 0) return;
  for (const s of Object.keys(handlers) as (keyof typeof handlers)[]) process.off(s, handlers[s]);
}
