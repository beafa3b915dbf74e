// A start as an ordered list of named steps: creating an environment and
// attaching to a reused one run the same phases through one runner, with
// their own step where they differ. A step's name is its progress line's
// key, its `env.timings` key, and what an exit during it is reported as.

import { containersAttach, containersCreate, reachPorts } from "./start-containers.ts";
import { networkAttach, networkCreate, preflightAttach, preflightCreate } from "./start-preflight.ts";
import { connectHelpers, readyServices, registerPeers, setupServices } from "./start-services.ts";
import type { StartRun } from "./start-run.ts";

export interface StartStep {
  readonly name: string;
  run(run: StartRun): Promise<void>;
}

const PHASE_LABELS: Record<string, string> = {
  preflight: "checking Docker, images and the CA",
  network: "creating the network",
  containers: "creating and starting containers",
  reach: "checking this process reaches the published ports",
  ready: "waiting for readiness",
  helpers: "connecting helpers",
  setup: "running setup",
  peers: "registering peers",
};

const step = (name: string, run: (run: StartRun) => Promise<void>): StartStep => ({ name, run });

/** The steps of a start: a new environment's, or an attach's (no setup, no peers: the run that started it did those). */
export function startPlan(attaching: boolean): StartStep[] {
  if (attaching) {
    return [
      step("preflight", preflightAttach),
      step("network", networkAttach),
      step("containers", containersAttach),
      step("reach", reachPorts),
      step("ready", readyServices),
      step("helpers", connectHelpers),
    ];
  }
  return [
    step("preflight", preflightCreate),
    step("network", networkCreate),
    step("containers", containersCreate),
    step("reach", reachPorts),
    step("ready", readyServices),
    step("helpers", connectHelpers),
    step("setup", setupServices),
    step("peers", registerPeers),
  ];
}

/** Runs the steps in order: each announced (onProgress) and timed into `run.timings` under its name. */
export async function runSteps(run: StartRun, steps: StartStep[]): Promise<void> {
  for (const { name, run: runStep } of steps) {
    run.phase = name;
    run.progress(PHASE_LABELS[name] ?? name);
    const t0 = performance.now();
    try {
      await runStep(run);
    } finally {
      run.timings[name] = Math.round(performance.now() - t0);
    }
  }
}
