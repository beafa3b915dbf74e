// Which JavaScript runtime is executing us. Transport and process code pick
// their native API (Bun.spawn / Deno.Command / node:child_process) from this.

export type Runtime = "bun" | "deno" | "node";

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

export const runtime: Runtime = typeof g.Bun !== "undefined"
  ? "bun"
  : typeof g.Deno !== "undefined"
  ? "deno"
  : "node";
