// Two rules over lib/, each failure naming the file and line:
//
// - The container engine has one boundary, lib/docker/ (with its index
//   lib/docker.ts): nothing else builds a docker argv or starts the docker
//   CLI. Outside it, no docker()/dockerResult() call with an array literal,
//   no "docker" as a command name (run, spawn, a pipeline's `cmd`), and no
//   import of the raw CLI calls (docker, dockerResult, dockerCommand), which
//   would let an argv built in a variable through. Add a function to the
//   module of lib/docker/ that owns the resource instead.
// - No lib/ file is longer than 450 lines. A file in OVERSIZE (none now)
//   predates the rule: it may not grow past the size recorded there, and its
//   entry goes once it is split.

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "../harness.ts";
import { repoRoot, sourceFiles } from "../support/source-files.ts";

const root = repoRoot;
export const MAX_LINES = 450;
/**
 * Files over MAX_LINES when the rule came in (issue 18), at their size then:
 * the most each may have until it is split. All of them have been split.
 */
export const OVERSIZE: Readonly<Record<string, number>> = {};


/** Inside the boundary: lib/docker/ and its index. */
export const insideDockerBoundary = (file: string) => file === "lib/docker.ts" || file.startsWith("lib/docker/");

/**
 * The source with comments blanked (line numbers kept): `//` comments that
 * start a line or follow whitespace (not `https://`), and block comments
 * that start a line or follow whitespace or an opening bracket (not the
 * `/*` of a glob such as `${dir}/*` or a `*\/*` media range in a string).
 */
export function withoutComments(source: string): string {
  const blank = (s: string) => s.replace(/[^\n]/g, " ");
  return source
    .replace(/(^|[\s(,;{])(\/\*[\s\S]*?\*\/)/g, (_m, before: string, comment: string) => before + blank(comment))
    .replace(/(^|\s)(\/\/.*)$/gm, (_m, before: string, comment: string) => before + blank(comment));
}

export interface Violation {
  file: string;
  line: number;
  what: string;
}

const lineAt = (text: string, index: number) => text.slice(0, index).split("\n").length;

/** The raw CLI calls: whoever imports them can build any argv. */
const RAW_CLI = new Set(["docker", "dockerResult", "dockerCommand", "DOCKER_CLI"]);

const DOCKER_ARGV_RULES: { pattern: RegExp; what: string }[] = [
  { pattern: /\b(?:docker|dockerResult)\s*\(\s*\[/g, what: "docker argv built here: a docker()/dockerResult() call with an array literal" },
  { pattern: /\bcmd\s*:\s*["'`]docker["'`]/g, what: "the docker CLI started here: a command with cmd \"docker\"" },
  {
    pattern: /\b(?:run|spawn|spawnSync|spawnProcess|execFile|execFileSync|Command)\s*\(\s*\[?\s*["'`]docker["'`]/g,
    what: "the docker CLI started here: a spawn of \"docker\"",
  },
  { pattern: /(?<![\w.])["']docker["'](?!\s*:)/g, what: "the docker binary named here: the string \"docker\"" },
];

/** Where `file` builds a docker argv or starts the docker CLI outside lib/docker/ (none inside it). */
export function dockerArgvViolations(file: string, source: string): Violation[] {
  if (insideDockerBoundary(file)) return [];
  const text = withoutComments(source);
  const found = new Map<number, Violation>(); // one per line: the first rule that matched
  for (const { pattern, what } of DOCKER_ARGV_RULES) {
    for (const m of text.matchAll(pattern)) {
      const line = lineAt(text, m.index!);
      if (!found.has(line)) found.set(line, { file, line, what });
    }
  }
  for (const m of text.matchAll(/^\s*import\s+(?:type\s+)?\{([^}]*)\}\s*from\s*["']([^"']+)["']/gm)) {
    if (!/(^|\/)docker(\.ts|\/cli\.ts)$/.test(m[2])) continue;
    const names = m[1].split(",").map((n) => n.trim().replace(/^type\s+/, "").split(/\s+as\s+/)[0].trim());
    const raw = names.filter((n) => RAW_CLI.has(n));
    if (raw.length > 0) {
      const line = lineAt(text, m.index! + m[0].indexOf("{"));
      found.set(line, { file, line, what: `raw docker CLI imported here (${raw.join(", ")}): call a function of lib/docker/ instead` });
    }
  }
  return [...found.values()].sort((a, b) => a.line - b.line);
}

/** A file past MAX_LINES (or past its OVERSIZE ceiling), as the first line over; an OVERSIZE entry no longer needed. */
export function sizeViolations(file: string, lines: number, oversize: Readonly<Record<string, number>> = OVERSIZE): Violation[] {
  const ceiling = oversize[file];
  if (ceiling !== undefined && lines <= MAX_LINES) {
    return [{ file, line: lines, what: `now ${lines} lines, within ${MAX_LINES}: remove its OVERSIZE entry in tests/unit/boundaries.test.ts` }];
  }
  const limit = ceiling ?? MAX_LINES;
  if (lines <= limit) return [];
  return [{
    file,
    line: limit + 1,
    what: ceiling === undefined
      ? `${lines} lines, over the ${MAX_LINES}-line limit: split it by concern`
      : `${lines} lines, past the ${ceiling} it had when the ${MAX_LINES}-line limit came in: split it, do not grow it`,
  }];
}

const lineCount = (source: string) => source.endsWith("\n") ? source.split("\n").length - 1 : source.split("\n").length;
const report = (vs: Violation[]) => vs.map((v) => `${v.file}:${v.line}: ${v.what}`).join("\n");

test("boundaries: the rules find what they are about", () => {
  const bad = [
    "import { docker, dockerResult as dr, listByLabel } from \"../docker.ts\";", // 1
    "const ids = await docker([\"ps\", \"-q\"]);", // 2
    "const r = await dockerResult(", // 3
    "  [\"inspect\", id]);", // 4
    "await runPipeline({ cmd: \"docker\", args: [\"save\", ref] }, next);", // 5
    "const child = await spawnProcess(\"docker\", [\"wait\", id]);", // 6
    "const cli = opts.cli ?? 'docker';", // 7
    "// docker([\"ps\"]) in a comment is fine, and so is `docker pull` in a message:", // 8
    "throw new Error(`run \\`docker pull ${ref}\\` first`); const u = \"https://x/docker\";", // 9
    "/** docker([\"rm\"]) */ const tag = { docker: 1 }; const g = `${dir}/*/image.tar`;", // 10
    "await docker([\"late\"]);", // 11
  ].join("\n");
  assert.deepEqual(dockerArgvViolations("lib/x/y.ts", bad).map((v) => v.line), [1, 2, 3, 5, 6, 7, 11]);
  assert.match(report(dockerArgvViolations("lib/x/y.ts", bad)), /^lib\/x\/y\.ts:1: raw docker CLI imported here \(docker, dockerResult\)/);
  assert.deepEqual(dockerArgvViolations("lib/docker/containers.ts", bad), []);
  assert.deepEqual(dockerArgvViolations("lib/docker.ts", bad), []);
  assert.deepEqual(dockerArgvViolations("lib/x/y.ts", "import { execIn, type DockerError } from \"../docker.ts\";\nawait execIn(id, [\"true\"]);\n"), []);

  assert.deepEqual(sizeViolations("lib/a.ts", 450, {}), []);
  assert.deepEqual(sizeViolations("lib/a.ts", 451, {}).map((v) => v.line), [451]);
  assert.deepEqual(sizeViolations("lib/a.ts", 500, { "lib/a.ts": 500 }), []);
  assert.match(report(sizeViolations("lib/a.ts", 501, { "lib/a.ts": 500 })), /^lib\/a\.ts:501: 501 lines, past the 500/);
  assert.match(report(sizeViolations("lib/a.ts", 300, { "lib/a.ts": 500 })), /remove its OVERSIZE entry/);
});

test("boundaries: only lib/docker/ builds a docker argv or starts the docker CLI", async () => {
  const files = await sourceFiles("lib");
  assert.ok(files.length > 50, `the walk saw ${files.length} modules`);
  const violations: Violation[] = [];
  for (const f of files) violations.push(...dockerArgvViolations(f, await readFile(join(root, f), "utf8")));
  assert.equal(violations.length, 0, `docker argv outside lib/docker/:\n${report(violations)}`);
});

test(`boundaries: no lib/ file over ${MAX_LINES} lines`, async () => {
  const files = await sourceFiles("lib");
  const violations: Violation[] = [];
  for (const f of files) violations.push(...sizeViolations(f, lineCount(await readFile(join(root, f), "utf8"))));
  for (const f of Object.keys(OVERSIZE)) {
    if (!files.includes(f)) violations.push({ file: f, line: 0, what: "no such file: remove its OVERSIZE entry in tests/unit/boundaries.test.ts" });
  }
  assert.equal(violations.length, 0, `files too long:\n${report(violations)}`);
});
