// A container's output, as Docker's log driver kept it.

import { DockerArgumentError, validateName } from "./args.ts";
import { DockerError, dockerResult } from "./cli.ts";

/**
 * The last `lines` lines of a container's output, stdout and stderr merged
 * in time order (by Docker's per-line timestamps; lines written within the
 * same instant to both streams may interleave approximately).
 */
export async function logsTail(container: string, lines = 50): Promise<string> {
  if (!Number.isInteger(lines) || lines < 0) throw new DockerArgumentError("line count", String(lines), "must be a non-negative integer");
  const r = await dockerResult(["logs", "--timestamps", "--tail", String(lines), validateName(container, "container")]);
  // `docker logs` exits non-zero only when Docker fails; then stderr is its message, not the container's.
  if (r.code !== 0) throw new DockerError(["logs", container], r.code, r.stderr, r.timedOut);
  const entries: { key: string; seq: number; text: string }[] = [];
  let seq = 0;
  for (const stream of [r.stdout, r.stderr]) {
    for (const line of stream.split("\n")) {
      if (line === "") continue;
      const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d) ?(.*)$/s.exec(line);
      if (!m) entries.push({ key: "", seq: seq++, text: line });
      else entries.push({ key: `${m[1]}.${(m[2] ?? "").padEnd(9, "0")}${m[3]}`, seq: seq++, text: m[4] });
    }
  }
  entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.seq - b.seq));
  return entries.map((e) => e.text + "\n").join("");
}
