// env.diagnostics(): what to print when a test failed. Each service's own
// report (a k3s service: pod states, warning events, failing containers' log
// tails; any other service: its container's state and log tail), then the
// newest lines of the environment's timeline. Never throws.

import type { Recorder } from "../recorder.ts";
import type { ServiceDefinition } from "../service.ts";
import { describeContainer } from "./readiness.ts";

export const TIMELINE_LINES = 40;

export interface DiagnosedService {
  key: string;
  // deno-lint-ignore no-explicit-any
  def: ServiceDefinition<any>;
  helpers: unknown;
  containerId: string;
}

export async function environmentDiagnostics(services: DiagnosedService[], recorder: Recorder): Promise<string> {
  const sections = await Promise.all(services.map(async ({ key, def, helpers, containerId }) => {
    let body: string;
    try {
      body = def.diagnostics && helpers !== undefined ? await def.diagnostics(helpers) : await describeContainer(containerId);
    } catch (err) {
      body = `(no diagnostics: ${(err as Error)?.message ?? err})`;
    }
    return `== service ${key} ==\n${body}`;
  }));
  const timeline = recorder.timeline().split("\n").filter(Boolean);
  const shown = timeline.slice(-TIMELINE_LINES);
  const head = timeline.length > shown.length ? `== timeline (last ${shown.length} of ${timeline.length}) ==` : "== timeline ==";
  return [...sections, `${head}\n${shown.join("\n")}`].join("\n");
}
