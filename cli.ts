// k3sbox command line: up | smoke | load | images | list | down | prune.
// Run with `bun cli.ts …` or `deno run -A cli.ts …` (bin/k3sbox picks one).

import { readFile, stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { type Flags, type FlagSpec, HELP_FLAG, helpText, parseArgs, parseDuration, UsageError } from "./lib/cli/args.ts";
import { CLUSTER_FLAGS, type ClusterFlags, clusterFromFlags } from "./lib/cli/cluster-flags.ts";
import { planDown } from "./lib/cli/down.ts";
import { SMOKE_DOMAIN, smoke } from "./lib/cli/smoke.ts";
import { loadCommand } from "./lib/cli/load.ts";
import { imagesAction, listImageCache, pruneImageCache, warmImageCache } from "./lib/cli/images.ts";
import { listReused, liveAttachments, removeReused } from "./lib/runner/reuse.ts";
import { startEnvironment } from "./lib/runner/environment.ts";
import { listEnvironments, prune, removeEnvironment } from "./lib/runner/prune.ts";
import { checkStateRoot, recordKubeconfigEntries, removeEnvironmentDir } from "./lib/runner/state-dir.ts";
import { checkKubeconfigTarget, KubeconfigTargetError, writeKubeconfigEntries } from "./lib/runner/kubeconfig-merge.ts";
import { hostPortOf } from "./lib/service.ts";
import { doctor, doctorText } from "./lib/cli/doctor.ts";
import { k3s } from "./lib/k3s/k3s.ts";

const started = performance.now();
/** Progress goes to stderr in every mode, so `--json` output on stdout stays one document. */
const progress = (message: string) => {
  const t = ((performance.now() - started) / 1000).toFixed(1).padStart(6);
  process.stderr.write(`[${t}s] ${message}\n`);
};
const out = (text: string) => process.stdout.write(text.endsWith("\n") ? text : text + "\n");

/** A command: its flags (each typed in run()), and whether it takes arguments (ids, images, an action). */
interface CommandDefinition<Spec extends Record<string, FlagSpec>> {
  usage: string;
  summary: string;
  flags: Spec;
  takesArguments?: boolean;
  run: (flags: Flags<Spec>, positionals: string[]) => Promise<number>;
}

interface Command {
  /** Its first line is the command's line in `k3sbox --help`. */
  summary: string;
  main(argv: string[], name: string): Promise<number>;
}

/** Checks the definition against its own flags, and gives every command --help. */
function command<const Spec extends Record<string, FlagSpec>>(def: CommandDefinition<Spec>): Command {
  const spec = { ...def.flags, help: HELP_FLAG };
  return {
    summary: def.summary,
    main: async (argv, name) => {
      const { flags, positionals } = parseArgs(argv, spec, name);
      if (flags.help) {
        out(helpText(def.usage, def.summary, spec));
        return 0;
      }
      if (!def.takesArguments && positionals.length) throw new UsageError(`k3sbox ${name}: unexpected argument ${JSON.stringify(positionals[0])}`);
      return await def.run(flags, positionals);
    },
  };
}

const JSON_FLAG = CLUSTER_FLAGS.json;

const UP_FLAGS = {
  ...CLUSTER_FLAGS,
  "kubeconfig": {
    kind: "string",
    help:
      "also write the cluster's entries into this kubeconfig, 0600: merged into an existing file (its other entries kept, current-context " +
      "switched), never through a symbolic link; taken out again with the cluster (default: only in the cluster's private directory)",
  },
  "detach": { kind: "boolean", help: "exit after start, leaving the cluster running" },
} as const satisfies Record<string, FlagSpec>;

const DOWN_FLAGS = {
  "all": { kind: "boolean", help: "remove every detached environment and every one whose process is gone" },
  "force": { kind: "boolean", help: "also remove environments that running processes own" },
  "json": JSON_FLAG,
} as const satisfies Record<string, FlagSpec>;

const PRUNE_FLAGS = {
  "older-than": { kind: "string", help: "only remove leftovers at least this old (90s, 15m, 2h, 1d; default 0)" },
  "reuse-idle": { kind: "string", help: "remove reuse environments nobody attached to for this long (default 1d)" },
  "dry-run": { kind: "boolean", help: "list what would be removed" },
  "cache": { kind: "boolean", help: "also empty the image cache (kept otherwise: see `k3sbox images`)" },
  "json": JSON_FLAG,
} as const satisfies Record<string, FlagSpec>;

function topHelp(): string {
  return `k3sbox — throwaway k3s clusters in Docker\n\nUsage: k3sbox <command> [flags]\n\nCommands:\n` +
    Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(7)}${c.summary.split("\n")[0]}`).join("\n") +
    `\n\nRun \`k3sbox <command> --help\` for its flags.\n`;
}

/**
 * `--kubeconfig` must name a file in an existing directory, and if the file
 * exists, a kubeconfig we may merge into (not a link): checked before a
 * cluster is started for it.
 */
async function kubeconfigTarget(flag: string | undefined): Promise<string | undefined> {
  if (flag === undefined) return undefined;
  const path = resolve(flag);
  const parent = await stat(dirname(path)).catch(() => undefined);
  if (!parent?.isDirectory()) throw new UsageError(`--kubeconfig: directory ${dirname(path)} does not exist; give a file path in an existing directory`);
  await checkKubeconfigTarget(path).catch((err) => {
    throw err instanceof KubeconfigTargetError ? new UsageError(err.message) : err;
  });
  return path;
}

async function up(flags: Flags<typeof UP_FLAGS>): Promise<number> {
  const json = flags.json === true;
  const cluster = clusterFromFlags(flags);
  const extraPath = await kubeconfigTarget(flags.kubeconfig);
  await checkStateRoot(); // the kubeconfig goes there: a state directory that cannot hold it fails before a cluster starts
  // --detach keeps it for reuse: a test run (or another `up --detach`) with the same definitions attaches to it.
  const env = await startEnvironment({ services: { k8s: cluster }, onProgress: progress, detached: flags.detach === true, reuse: flags.detach === true });
  let path: string;
  let merged: string | undefined;
  try {
    // The cluster's private directory: removed by Ctrl-C, `down`, the crash watchdog and `prune`.
    path = await env.kubeconfigPath("k8s");
    if (extraPath) {
      // The entries the user asked for, merged into the file: recorded in the cluster's directory
      // first, so whatever removes that (Ctrl-C, `down`, the watchdog, `prune`) takes them out again.
      const name = `k3sbox-${env.id}-k8s`;
      const r = await writeKubeconfigEntries(extraPath, await readFile(path, "utf8"), name, (r) => recordKubeconfigEntries(env.id, r));
      if (!r.created) merged = name;
      path = extraPath;
    }
  } catch (err) {
    // Nothing may outlive a failed `up`, detached or not.
    await env.stop().catch((e) => ((err as Error).message += `\n(and removing it failed: ${(e as Error).message}; run \`k3sbox down ${env.id} --force\`)`));
    if (flags.detach && (await liveAttachments(env.id)).length === 0) await removeReused(env.id); // stop() keeps reuse environments
    (err as Error).message = `cluster ${env.id} started but \`up\` failed, so it was removed: ${(err as Error).message}`;
    throw err;
  }
  const info = {
    id: env.id,
    kubeconfig: path,
    dir: dirname(await env.kubeconfigPath("k8s")),
    api: `https://${hostPortOf(env.services.k8s.host, env.hostPort("k8s", 6443))}`,
    host: env.services.k8s.host,
    ports: env.services.k8s.ports,
    topology: { kind: env.topology.kind, reason: env.topology.reason },
    timings: env.timings,
  };
  if (json) out(JSON.stringify(info));
  else {
    out(`cluster ${env.id} is ready (${Object.entries(env.timings).map(([k, v]) => `${k} ${v}ms`).join(", ")})`);
    out(`kubeconfig: ${path}${extraPath ? "" : ` (in ${info.dir}, private, removed with the cluster)`}`);
    if (merged) out(`  (merged into your file as context ${merged}, now current; taken out again with the cluster)`);
    out(`export KUBECONFIG=${path}`);
    out(`reached at ${info.api} (topology ${env.topology.kind}: ${env.topology.reason})`);
  }
  if (flags.detach) {
    env.detach();
    if (!json) out(`left running; remove it with: k3sbox down ${env.id}`);
    return 0;
  }
  if (!json) out("press Ctrl-C to stop and remove the cluster");
  // Stay alive; the runner's SIGINT/SIGTERM handler removes the environment and exits.
  await new Promise(() => setInterval(() => {}, 1 << 30));
  return 0;
}

async function runSmoke(flags: ClusterFlags): Promise<number> {
  const json = flags.json === true;
  const report = await smoke(clusterFromFlags(flags, { ingressDomains: [SMOKE_DOMAIN] }), progress);
  if (json) out(JSON.stringify(report));
  else {
    out(report.ok ? "smoke: PASS" : "smoke: FAIL");
    for (const [name, ms] of Object.entries(report.phases)) out(`  ${name.padEnd(48)} ${String(ms).padStart(7)} ms`);
    if (Object.keys(report.startup).length) out(`  start-up breakdown: ${Object.entries(report.startup).map(([k, v]) => `${k} ${v}ms`).join(", ")}`);
    if (report.error) process.stderr.write(`\n${report.error}\n`);
  }
  return report.ok ? 0 : 1;
}

async function down(flags: Flags<typeof DOWN_FLAGS>, ids: string[]): Promise<number> {
  if (flags.all ? ids.length > 0 : ids.length === 0) throw new UsageError("k3sbox down: give environment ids, or --all (not both)");
  for (const id of ids) {
    if (!/^[a-f0-9]{10}$/.test(id)) throw new UsageError(`k3sbox down: ${JSON.stringify(id)} is not an environment id (10 hex digits, as printed by \`k3sbox up\`)`);
  }
  const listed = await listEnvironments();
  const { remove, spared } = planDown(listed, ids, { all: flags.all === true, force: flags.force === true });
  const removed = [];
  const unknown = [];
  for (const id of remove) {
    // Its private directory is where its labels say it was written (K3SBOX_STATE_DIR may differ now).
    const root = listed.find((e) => e.id === id)?.stateRoot;
    const objects = await removeEnvironment(id);
    const dir = (await removeEnvironmentDir(id)) || (root !== undefined && (await removeEnvironmentDir(id, root)));
    const r = { id, ...objects, dir };
    if (r.containers.length || r.networks.length || r.dir) removed.push(r);
    else unknown.push(id);
  }
  if (flags.json) out(JSON.stringify({ removed, spared, unknown }));
  else {
    for (const r of removed) out(`removed ${r.id}: ${[...r.containers, ...r.networks].join(", ") || "(its files only)"}`);
    if (removed.length === 0 && (flags.all || spared.length === 0)) out("nothing removed");
    if (flags.all && spared.length) out(`left alone, owned by running processes (--force removes them too): ${spared.join(", ")}`);
  }
  if (!flags.all) for (const id of spared) process.stderr.write(`k3sbox down: ${id} belongs to a running process (a \`k3sbox up\` or a test run); stop that process, or add --force\n`);
  for (const id of unknown) process.stderr.write(`k3sbox down: no environment ${id} on this Docker daemon\n`);
  // --all finding nothing to do is success; a named id that was not removed is not.
  return !flags.all && (spared.length || unknown.length) ? 1 : 0;
}

async function runPrune(flags: Flags<typeof PRUNE_FLAGS>): Promise<number> {
  const olderThanMs = flags["older-than"] !== undefined ? parseDuration(flags["older-than"], "older-than") : 0;
  const reuseIdleMs = flags["reuse-idle"] !== undefined ? parseDuration(flags["reuse-idle"], "reuse-idle") : undefined;
  const result = await prune({ olderThanMs, dryRun: flags["dry-run"] === true, reuseIdleMs });
  const cache = flags.cache && !flags["dry-run"] ? await pruneImageCache() : undefined;
  if (flags.json) out(JSON.stringify(cache ? { ...result, cache } : result));
  else {
    const verb = flags["dry-run"] ? "would remove" : "removed";
    out(`${verb} ${result.containers.length} container(s), ${result.networks.length} network(s)`);
    for (const n of [...result.containers, ...result.networks]) out(`  ${n}`);
    for (const d of result.dirs) out(`  ${d}`);
    if (result.reused.length) out(`${verb} idle reuse environment(s): ${result.reused.join(", ")}`);
    if (result.skippedLive.length) out(`left alone (live or detached): ${result.skippedLive.join(", ")}`);
    if (cache) out(`removed ${cache.removed.length} cached image(s)${cache.inUse.length ? `; mounted by running nodes, kept: ${cache.inUse.join(", ")}` : ""}`);
  }
  return 0;
}

async function images(flags: ClusterFlags, positionals: string[]): Promise<number> {
  const action = imagesAction(positionals);
  if (action === "prune") {
    const r = await pruneImageCache();
    if (flags.json) out(JSON.stringify(r));
    else {
      out(`removed ${r.removed.length} cached image(s), ${r.lists} learned list(s) and ${r.mirrors.length} registry mirror(s)`);
      for (const ref of r.removed) out(`  ${ref}`);
      if (r.inUse.length) out(`left alone, mounted by running nodes: ${r.inUse.join(", ")}`);
    }
    return 0;
  }
  const listing = action === "warm" ? await warmImageCache(clusterFromFlags(flags), progress) : await listImageCache();
  if (flags.json) out(JSON.stringify(listing));
  else {
    if (listing.images.length === 0) out("the image cache is empty (the first cluster boot fills it; `k3sbox images warm` does it ahead of time)");
    for (const i of listing.images) out(`${i.ref.padEnd(56)} ${i.id.replace("sha256:", "").slice(0, 12)}  ${i.volume}`);
    for (const n of listing.nodeImages) {
      out(`node image ${n.nodeImage} needs at boot: ${n.images.join(", ") || "nothing"}${n.builtIn.length ? ` (built in: ${n.builtIn.join(", ")})` : ""}`);
    }
  }
  return 0;
}

const COMMANDS: Record<string, Command> = {
  up: command({
    usage: "k3sbox up [flags]",
    summary:
      "Start a k3s cluster, write its kubeconfig (mode 0600) and stay until Ctrl-C, then remove everything.\n" +
      "With --detach, leave it running; remove it later with `k3sbox down <id>`.",
    flags: UP_FLAGS,
    run: up,
  }),
  smoke: command({
    usage: "k3sbox smoke [flags]",
    summary:
      `Boot a cluster, deploy a demo app with a Service and an Ingress for hello.${SMOKE_DOMAIN}, wait for the rollout,\n` +
      "fetch it over HTTPS through Traefik, tear down, and print how long each phase took. Exits 1 with the reason on failure.",
    flags: CLUSTER_FLAGS,
    run: runSmoke,
  }),
  load: command({
    usage: "k3sbox load <image>... [--cluster <id>]",
    summary: "Copy images from the host's Docker into a running cluster's containerd (docker save | ctr images import, host platform),\n" +
      "so pods run them with imagePullPolicy: Never. Without --cluster, the only running cluster on this Docker daemon.",
    flags: {
      "cluster": { kind: "string", help: "environment id (as printed by `k3sbox up`)" },
      "json": JSON_FLAG,
    },
    takesArguments: true,
    run: async (flags, images) => {
      const r = await loadCommand(images, flags.cluster);
      if (flags.json) out(JSON.stringify(r));
      else for (const i of r.images) out(`loaded ${i.name} into ${r.envId} (${r.container})`);
      return 0;
    },
  }),
  images: command({
    usage: "k3sbox images [list | warm [cluster flags] | prune] [--json]",
    summary: "Show the host-side image cache (images handed to every new node instead of pulled), warm it ahead of time\n" +
      "(boots a cluster with the given flags once, then removes it: a CI runner's warm-up step), or prune it.",
    flags: CLUSTER_FLAGS,
    takesArguments: true,
    run: images,
  }),
  list: command({
    usage: "k3sbox list [--json]",
    summary: "List reuse environments (startEnvironment({ reuse: true }) / K3SBOX_REUSE=1): id, definitions hash, attached processes, idle time.",
    flags: { "json": JSON_FLAG },
    run: async (flags) => {
      const envs = await listReused();
      if (flags.json) out(JSON.stringify(envs));
      else if (envs.length === 0) out("no reuse environments");
      else {
        for (const e of envs) {
          const state = e.attached.length ? `attached: ${e.attached.join(", ")}` : `idle ${Math.round((e.idleMs ?? 0) / 60_000)} min`;
          out(`${e.id}  definitions ${e.key}  ${state}  ${e.containers.join(", ")}`);
        }
      }
      return 0;
    },
  }),
  down: command({
    usage: "k3sbox down <id>... | --all [--force]",
    summary: "Remove environments by id (as printed by `up`), or with --all every detached or abandoned one on this Docker daemon.\n" +
      "An environment a running process still owns (a `k3sbox up` waiting for Ctrl-C, a test run) is left alone unless --force.",
    flags: DOWN_FLAGS,
    takesArguments: true,
    run: down,
  }),
  doctor: command({
    usage: "k3sbox doctor [--image <ref>] [--json]",
    summary: "Say what k3sbox would do here and why: Docker engine (Docker/Podman, version, rootless), how this process reaches the\n" +
      "containers (topology, address, TLS names), the privilege decision, whether the node image is present, and what to change.",
    flags: {
      "image": { kind: "string", help: "node image to check (default: rancher/k3s at k3s()'s default version)" },
      "json": JSON_FLAG,
    },
    run: async (flags) => {
      const r = await doctor(flags.image ?? k3s().image.reference);
      out(flags.json ? JSON.stringify(r) : doctorText(r));
      return r.ok ? 0 : 1;
    },
  }),
  prune: command({
    usage: "k3sbox prune [--older-than 1h] [--dry-run]",
    summary: "Remove containers and networks left by crashed runs. Never touches a live session's or a detached environment.",
    flags: PRUNE_FLAGS,
    run: runPrune,
  }),
};

/**
 * Runs the k3sbox command line (`up`, `smoke`, `load`, `images`, `list`,
 * `down`, `doctor`, `prune`) with `argv` (the arguments after the program
 * name) and resolves to its exit code: 0 done, 1 failed, 2 a usage error.
 * Output goes to stdout and stderr.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { main } from "@k3sbox/k3sbox/cli";
 *
 * const code = await main(["up", "--help"]); // prints `k3sbox up`'s flags
 * assert.equal(code, 0);
 * ```
 */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    out(topHelp());
    return name ? 0 : 2;
  }
  if (!Object.hasOwn(COMMANDS, name)) {
    process.stderr.write(`k3sbox: unknown command ${JSON.stringify(name)}\n\n${topHelp()}`);
    return 2;
  }
  try {
    return await COMMANDS[name].main(rest, name);
  } catch (err) {
    process.stderr.write(`${err instanceof UsageError ? "" : "k3sbox: "}${(err as Error).message}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)));
