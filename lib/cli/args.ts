// Command-line flags: node:util parseArgs (the same under Bun, Deno and Node)
// splits argv into tokens; this module checks them against the command's
// flags, so only known flags pass, each with a clear error otherwise, and
// gives them back typed by the command's spec.

import { parseArgs as tokenize } from "node:util";
import { closest } from "../suggest.ts";

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export interface FlagSpec {
  /** "boolean" flags take no value; "string" flags take one; "list" flags repeat. */
  kind: "boolean" | "string" | "list";
  help: string;
  /** A one-letter alias, e.g. "h" for -h. */
  short?: string;
}

/** The value a flag of this spec parses to. */
type FlagValue<S extends FlagSpec> = S["kind"] extends "boolean" ? boolean : S["kind"] extends "list" ? string[] : string;

/** Parsed flags, typed by their specs; a flag not given is absent. */
export type Flags<Spec extends Record<string, FlagSpec>> = { [K in keyof Spec]?: FlagValue<Spec[K]> };

export interface Parsed<Spec extends Record<string, FlagSpec>> {
  flags: Flags<Spec>;
  positionals: string[];
}

/**
 * Parses `--flag`, `--flag value`, `--flag=value` (`--no-x` is not special;
 * after `--`, everything is a positional). A string flag takes the next
 * argument even when it starts with "-", as in `--extra-arg --disable=traefik`.
 */
export function parseArgs<Spec extends Record<string, FlagSpec>>(argv: string[], spec: Spec, command: string): Parsed<Spec> {
  // Not strict: node:util would refuse a value that starts with "-" and word
  // its errors for a generic program; the tokens are checked here instead.
  const { tokens } = tokenize({
    args: argv,
    options: Object.fromEntries(Object.entries(spec).map(([name, s]) => [name, optionOf(s)])),
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const flags: Record<string, string | boolean | string[]> = {};
  const positionals: string[] = [];
  for (const token of tokens) {
    if (token.kind === "positional") positionals.push(token.value);
    if (token.kind !== "option") continue;
    const s = Object.hasOwn(spec, token.name) ? spec[token.name] : undefined;
    if (!s) throw unknownFlag(token.rawName, spec, command);
    if (s.kind === "boolean") {
      if (token.value !== undefined) throw new UsageError(`k3sbox ${command}: --${token.name} takes no value`);
      flags[token.name] = true;
      continue;
    }
    if (token.value === undefined) throw new UsageError(`k3sbox ${command}: --${token.name} needs a value`);
    flags[token.name] = s.kind === "list" ? [...((flags[token.name] as string[] | undefined) ?? []), token.value] : token.value;
  }
  return { flags: flags as Flags<Spec>, positionals };
}

/** The spec as node:util's option config. */
function optionOf(s: FlagSpec): { type: "boolean" | "string"; multiple: boolean; short?: string } {
  return { type: s.kind === "boolean" ? "boolean" : "string", multiple: s.kind === "list", ...(s.short ? { short: s.short } : {}) };
}

function unknownFlag(raw: string, spec: Record<string, FlagSpec>, command: string): UsageError {
  const names = Object.keys(spec);
  const near = raw.startsWith("--") ? closest(raw.slice(2), names) : undefined;
  return new UsageError(
    `k3sbox ${command}: unknown flag ${raw} (see k3sbox ${command} --help)${near ? `; did you mean --${near}?` : ""}\n` +
      `  ${command} takes: ${names.map((n) => `--${n}`).join(", ")}`,
  );
}

/** Every command's --help (-h too). */
export const HELP_FLAG = { kind: "boolean", short: "h", help: "show this help (-h too)" } as const satisfies FlagSpec;

export function helpText(usage: string, summary: string, spec: Record<string, FlagSpec>): string {
  const width = Math.max(...Object.entries(spec).map(([n, s]) => n.length + (s.kind === "boolean" ? 0 : 8)));
  const lines = Object.entries(spec).map(([n, s]) => `  --${(n + (s.kind === "boolean" ? "" : " <value>")).padEnd(width + 2)}${s.help}`);
  return `${usage}\n\n${summary}\n\nFlags:\n${lines.join("\n")}\n`;
}

/** "90s", "15m", "2h", "1d" or plain seconds → milliseconds. */
export function parseDuration(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new UsageError(`--${flag} must be a duration such as 90s, 15m, 2h or 1d; got ${JSON.stringify(text)}`);
  return Number(m[1]) * { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? "s") as "s"];
}
