// The steps once the containers run: "ready" (each readyCheck, through the
// readyProbe where there is one), "helpers", then — for a new environment
// only; an attached one was set up and told its peers by the run that
// started it — "setup" and "peers". From ready on, a container that exits
// fails the step at once with its log tail; from helpers on, so does one
// that is paused or off its network (hook-faults.ts).

import type { PeerAddress } from "../service.ts";
import { DISPOSE_TIMEOUT_MS, hookTimeoutMs, runHook } from "./hooks.ts";
import { watchHookFaults } from "./hook-faults.ts";
import { describeContainer, ServiceNotReadyError, waitReady } from "./readiness.ts";
import type { StartRun } from "./start-run.ts";

/** Waits until every service passes its ready check. */
export async function readyServices(run: StartRun): Promise<void> {
  watchExits(run);
  const { res, running, services } = run;
  await run.guarded(Promise.all(run.keys.map(async (key) => {
    const check = services[key].readyCheck;
    if (!check) return;
    const probe = services[key].readyProbe;
    await waitReady({
      service: key,
      container: running[key].containerId,
      check,
      hostPort: (p) => run.hostPort(key, p),
      host: running[key].host,
      exit: run.exits[key],
      network: res.network,
      progress: run.progress,
      signal: res.abort.signal,
      probe: probe && ((signal) => probe(run.contextFor(key, signal))),
    });
  })));
}

/**
 * A container that exits before the start is over fails it, whichever step
 * is running. Called as the ready step begins, so an exit seen already is
 * reported as before readiness.
 */
function watchExits(run: StartRun): void {
  run.died = Promise.race(run.keys.map((key) =>
    run.exits[key].exited.then(
      async (code): Promise<never> => {
        const when = run.phase === "ready" ? "before it was ready" : `during ${run.phase} (after it was ready)`;
        throw new ServiceNotReadyError(key, `service "${key}" exited with code ${code} ${when}\n${await describeContainer(run.running[key].containerId)}`);
      },
      () => new Promise<never>(() => {}), // cancelled: the start is over
    )
  ));
  run.died.catch(() => {});
}

/** Builds each service's helpers (`env.svc`); their `dispose` runs at stop. */
export async function connectHelpers(run: StartRun): Promise<void> {
  const { res, running } = run;
  run.hookFaults = watchHookFaults(Object.fromEntries(run.keys.map((k) => [k, running[k].containerId])), res.network, () => run.phase);
  const faults = run.hookFaults;
  res.disposers.push(() => faults.stop());
  await run.guarded(Promise.all(run.keys.map(async (key) => {
    const def = run.services[key];
    const helpers = def.helpers ? await runHook(key, "helpers", hookTimeoutMs(key, def), res.abort.signal, (signal) => def.helpers!(run.contextFor(key, signal))) : undefined;
    run.svc[key] = helpers;
    if (def.dispose && helpers !== undefined) res.disposers.push(() => runHook(key, "dispose", DISPOSE_TIMEOUT_MS, undefined, () => def.dispose!(helpers)));
  })));
}

/** Runs each service's `setup` hook. */
export async function setupServices(run: StartRun): Promise<void> {
  const { res } = run;
  await run.guarded(Promise.all(run.keys.map(async (key) => {
    res.checkNotStopping();
    const def = run.services[key];
    if (def.setup) await runHook(key, "setup", hookTimeoutMs(key, def), res.abort.signal, (signal) => def.setup!(run.setupContextFor(key, signal)));
  })));
}

/** Tells each service the others' addresses (its `peers` hook). */
export async function registerPeers(run: StartRun): Promise<void> {
  const { res, keys, running } = run;
  await run.guarded(Promise.all(keys.map(async (key) => {
    const peers: PeerAddress[] = keys.filter((k) => k !== key).map((k) => ({ key: k, host: `${k}.internal`, ip: running[k].ip }));
    const def = run.services[key];
    if (def.peers) await runHook(key, "peers", hookTimeoutMs(key, def), res.abort.signal, (signal) => def.peers!(run.setupContextFor(key, signal), peers));
  })));
}
