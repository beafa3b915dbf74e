// The CLI's flag parsing (lib/cli/args.ts, on node:util parseArgs): value forms, and errors that name the flag.
import assert from "node:assert/strict";
import { test } from "../harness.ts";
import { type FlagSpec, HELP_FLAG, parseArgs, UsageError } from "../../lib/cli/args.ts";
import { CLUSTER_FLAGS } from "../../lib/cli/cluster-flags.ts";

const spec = {
  "extra-arg": { kind: "list", help: "" },
  "image": { kind: "string", help: "" },
  "json": { kind: "boolean", help: "" },
  "help": HELP_FLAG,
} as const satisfies Record<string, FlagSpec>;

const usage = (pattern: RegExp) => (e: unknown) => e instanceof UsageError && pattern.test(e.message) || assert.fail(String(e));

test("cli args: a string flag takes the next argument even when it starts with a dash", () => {
  const { flags } = parseArgs(["--extra-arg", "--disable=traefik", "--extra-arg=--tls-san=x", "--image", "-"], spec, "up");
  assert.deepEqual(flags["extra-arg"], ["--disable=traefik", "--tls-san=x"]);
  assert.equal(flags.image, "-");
});

test("cli args: the last of a repeated string flag wins; an empty value is a value", () => {
  assert.equal(parseArgs(["--image", "a", "--image=b"], spec, "up").flags.image, "b");
  assert.equal(parseArgs(["--image="], spec, "up").flags.image, "");
  assert.equal(parseArgs(["--image", ""], spec, "up").flags.image, "");
});

test("cli args: -h is --help; after -- everything is an argument", () => {
  assert.equal(parseArgs(["-h"], spec, "up").flags.help, true);
  assert.deepEqual(parseArgs(["a", "--", "--json", "-h"], spec, "down"), { flags: {}, positionals: ["a", "--json", "-h"] });
});

test("cli args: an unknown flag is named with the command's flags, and the near one when it looks like a typo", () => {
  assert.throws(() => parseArgs(["--jsno"], spec, "list"), usage(/^k3sbox list: unknown flag --jsno \(see k3sbox list --help\); did you mean --json\?\n {2}list takes: --extra-arg, --image, --json, --help$/));
  assert.throws(() => parseArgs(["--zzz=1"], spec, "up"), usage(/unknown flag --zzz \(see k3sbox up --help\)\n/));
  assert.throws(() => parseArgs(["-x"], spec, "down"), usage(/^k3sbox down: unknown flag -x \(see k3sbox down --help\)\n/));
  // Names inherited from Object.prototype are not flags.
  assert.throws(() => parseArgs(["--constructor"], spec, "up"), usage(/unknown flag --constructor/));
  assert.throws(() => parseArgs(["--toString", "x"], CLUSTER_FLAGS, "smoke"), usage(/smoke takes: --version, --ingress-domain, .*--json$/));
});

test("cli args: a boolean given a value, a string flag without one", () => {
  assert.throws(() => parseArgs(["--json=false"], spec, "up"), usage(/^k3sbox up: --json takes no value$/));
  assert.throws(() => parseArgs(["--json="], spec, "up"), usage(/--json takes no value/));
  assert.throws(() => parseArgs(["--json", "--image"], spec, "up"), usage(/^k3sbox up: --image needs a value$/));
});

test("cli args: the result is a plain object typed by the spec", () => {
  const { flags } = parseArgs(["--json", "--extra-arg", "a"], spec, "up");
  assert.equal(Object.getPrototypeOf(flags), Object.prototype);
  const extra: string[] | undefined = flags["extra-arg"];
  const json: boolean | undefined = flags.json;
  assert.deepEqual([extra, json], [["a"], true]);
});
