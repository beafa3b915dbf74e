// A small, strict argv parser: known flags only, clear errors for the rest.

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
}

export interface Parsed {
  flags: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** Parses `--flag`, `--flag value`, `--flag=value`; `--no-x` is not special. */
export function parseArgs(argv: string[], spec: Record<string, FlagSpec>, command: string): Parsed {
  const flags: Parsed["flags"] = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith("--")) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    const s = spec[name];
    if (!s) throw new UsageError(`k3sbox ${command}: unknown flag --${name} (see k3sbox ${command} --help)`);
    if (s.kind === "boolean") {
      if (eq !== -1) throw new UsageError(`k3sbox ${command}: --${name} takes no value`);
      flags[name] = true;
      continue;
    }
    const value = eq !== -1 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new UsageError(`k3sbox ${command}: --${name} needs a value`);
    if (s.kind === "list") flags[name] = [...((flags[name] as string[]) ?? []), value];
    else flags[name] = value;
  }
  return { flags, positionals };
}

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
