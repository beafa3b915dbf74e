// argv that runs a TypeScript file with the runtime running the tests:
// `bun run f`, `deno run -A f`, or `node f` (the test command sets
// NODE_OPTIONS=--experimental-transform-types so Node runs .ts sources).
import { runtime } from "../../lib/runtime.ts";

export function scriptArgv(file: string): [string, ...string[]] {
  if (runtime === "bun") return [process.execPath, "run", file];
  if (runtime === "deno") return [process.execPath, "run", "-A", file];
  return [process.execPath, file];
}
