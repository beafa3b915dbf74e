// Bad input, as a hostile user would give it, through the API and the CLI
// against the real Docker engine. Each case asserts the error class, that the
// message names the option or variable at fault, and that nothing was left:
// no container, network or private directory (kubeconfigs), no file. The
// time each took to fail is printed, not asserted.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { suite } from "../harness.ts";
import { docker, listByLabel } from "../../lib/docker.ts";
import { k3s } from "../../lib/k3s/k3s.ts";
import { K3sOptionError } from "../../lib/k3s/options.ts";
import { loadImages, LoadImagesError } from "../../lib/k3s/load-images.ts";
import { CaLoadError } from "../../lib/pki.ts";
import { ArgumentsTooLongError } from "../../lib/exec.ts";
import { startEnvironment } from "../../lib/runner/environment.ts";
import { LABEL_ENV, LABEL_PID, LABEL_SESSION, SESSION_ID } from "../../lib/runner/labels.ts";
import { EnvironmentOptionError } from "../../lib/runner/validate.ts";
import { EnvVarError } from "../../lib/runner/env-flags.ts";
import { dnsName, SELF_SERVICE_TOKEN } from "../../lib/service.ts";
import { BUSYBOX_IMAGE, ensureBusyboxImage } from "../support/images.ts";
import { shellExitCode } from "../support/leftovers.ts";
import { scriptArgv } from "../support/script.ts";

const image = { type: "registry" as const, reference: BUSYBOX_IMAGE };
const idle = { image, command: "exec sleep 600" };
const GARBAGE_CERT = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUAAAA\n-----END CERTIFICATE-----\n";
const FIXTURE_CA_CERT = new URL("../fixtures/pki/ec-ca.crt", import.meta.url).pathname; // a path works as well as PEM text
const OTHER_CA_KEY = new URL("../fixtures/pki/rsa-ca.pkcs8.key", import.meta.url).pathname;
const GARBAGE_KEY = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEG\n-----END PRIVATE KEY-----\n";

type ErrorClass = new (...args: never[]) => Error;
interface ApiCase {
  what: string;
  run: () => Promise<unknown>;
  error: ErrorClass;
  /** The option or variable the message must name. */
  names: string | RegExp;
  env?: Record<string, string>;
}

const start = (services: unknown, extra: Record<string, unknown> = {}) => () => startEnvironment({ services, ...extra } as never);
const svc = (fields: Record<string, unknown>) => start({ web: { ...idle, ...fields } });

const API: ApiCase[] = [
  { what: "no options at all", run: () => startEnvironment(undefined as never), error: EnvironmentOptionError, names: "options" },
  { what: "misspelled field readycheck", run: svc({ readycheck: { type: "exec", command: "true", timeoutSecs: 5 } }), error: EnvironmentOptionError, names: /services\.web\.readycheck .*did you mean "readyCheck"/ },
  { what: "misspelled field comand", run: svc({ comand: "true" }), error: EnvironmentOptionError, names: /services\.web\.comand .*did you mean "command"/ },
  { what: "readyCheck.timeoutSecs 1e7 (beyond setTimeout)", run: svc({ readyCheck: { type: "exec", command: "true", timeoutSecs: 1e7 } }), error: EnvironmentOptionError, names: /services\.web\.readyCheck\.timeoutSecs .*2147483/ },
  // deno-lint-ignore no-sparse-arrays
  { what: "sparse ports [, 80]", run: svc({ ports: [, 80] }), error: EnvironmentOptionError, names: "services.web.ports[0]" },
  { what: 'command [""]', run: svc({ command: [""] }), error: EnvironmentOptionError, names: "services.web.command" },
  { what: 'tmpfs ["/"]', run: svc({ tmpfs: ["/"] }), error: EnvironmentOptionError, names: "services.web.tmpfs[0]" },
  { what: "hookTimeoutSecs NaN", run: svc({ hookTimeoutSecs: NaN }), error: EnvironmentOptionError, names: /services\.web\.hookTimeoutSecs .*got NaN/ },
  { what: "K3SBOX_REAPER=disabled", run: svc({}), env: { K3SBOX_REAPER: "disabled" }, error: EnvVarError, names: /^K3SBOX_REAPER must be 1 or 0/ },
  { what: "K3SBOX_REUSE=maybe", run: svc({}), env: { K3SBOX_REUSE: "maybe" }, error: EnvVarError, names: /^K3SBOX_REUSE must be 1 or 0/ },
  { what: "services missing", run: start(undefined), error: EnvironmentOptionError, names: "services" },
  { what: "misspelled option", run: () => startEnvironment({ service: { web: idle } } as never), error: EnvironmentOptionError, names: '"service"' },
  { what: "service key with upper case", run: start({ Web: idle }), error: EnvironmentOptionError, names: 'service key "Web"' },
  { what: "service definition null", run: start({ web: null }), error: EnvironmentOptionError, names: "services.web" },
  { what: "image missing", run: svc({ image: undefined }), error: EnvironmentOptionError, names: "services.web.image" },
  { what: "command 5", run: svc({ command: 5 }), error: EnvironmentOptionError, names: "services.web.command" },
  { what: "command blank", run: svc({ command: "  " }), error: EnvironmentOptionError, names: "services.web.command" },
  { what: "command of 200 KB (E2BIG)", run: svc({ command: "x".repeat(200_000) }), error: EnvironmentOptionError, names: "services.web.command" },
  { what: "env 5", run: svc({ env: 5 }), error: EnvironmentOptionError, names: "services.web.env" },
  { what: 'env "A=1"', run: svc({ env: "A=1" }), error: EnvironmentOptionError, names: "services.web.env" },
  { what: "env name with a dash", run: svc({ env: { "A-B": "x" } }), error: EnvironmentOptionError, names: 'services.web.env["A-B"]' },
  { what: "env value 1", run: svc({ env: { A: 1 } }), error: EnvironmentOptionError, names: "services.web.env.A" },
  { what: "env value with NUL", run: svc({ env: { A: "a\0b" } }), error: EnvironmentOptionError, names: "services.web.env.A" },
  { what: "tmpfs 5", run: svc({ tmpfs: 5 }), error: EnvironmentOptionError, names: "services.web.tmpfs" },
  { what: "tmpfs [null]", run: svc({ tmpfs: [null] }), error: EnvironmentOptionError, names: "services.web.tmpfs[0]" },
  { what: 'privileged "yes"', run: svc({ privileged: "yes" }), error: EnvironmentOptionError, names: "services.web.privileged" },
  { what: 'cgroupns "shared"', run: svc({ cgroupns: "shared" }), error: EnvironmentOptionError, names: "services.web.cgroupns" },
  { what: 'ports "80"', run: svc({ ports: "80" }), error: EnvironmentOptionError, names: "services.web.ports" },
  { what: "ports twice the same", run: svc({ ports: [80, 80] }), error: EnvironmentOptionError, names: "services.web.ports" },
  { what: "readyCheck null", run: svc({ readyCheck: null }), error: EnvironmentOptionError, names: "services.web.readyCheck" },
  { what: "readyCheck timeoutSecs Infinity", run: svc({ readyCheck: { type: "exec", command: "true", timeoutSecs: Infinity } }), error: EnvironmentOptionError, names: "readyCheck.timeoutSecs" },
  { what: "readyCheck exec command missing", run: svc({ readyCheck: { type: "exec", timeoutSecs: 5 } }), error: EnvironmentOptionError, names: "readyCheck.command" },
  { what: "readyCheck http path without /", run: svc({ ports: [80], readyCheck: { type: "http", port: 80, path: "health", timeoutSecs: 5 } }), error: EnvironmentOptionError, names: "readyCheck.path" },
  { what: "readyCheck http status 42", run: svc({ ports: [80], readyCheck: { type: "http", port: 80, status: 42, timeoutSecs: 5 } }), error: EnvironmentOptionError, names: "readyCheck.status" },
  { what: 'readyCheck http scheme "ftp"', run: svc({ ports: [80], readyCheck: { type: "http", port: 80, scheme: "ftp", timeoutSecs: 5 } }), error: EnvironmentOptionError, names: "readyCheck.scheme" },
  { what: "files 5", run: svc({ files: 5 }), error: EnvironmentOptionError, names: "services.web.files" },
  { what: "file with a relative path", run: svc({ files: [{ path: "etc/x", content: "" }] }), error: EnvironmentOptionError, names: "services.web.files[0].path" },
  { what: "file with content 42", run: svc({ files: [{ path: "/x", content: 42 }] }), error: EnvironmentOptionError, names: "services.web.files[0].content" },
  { what: "file with mode -1", run: svc({ files: [{ path: "/x", content: "", mode: -1 }] }), error: EnvironmentOptionError, names: "services.web.files[0].mode" },
  {
    what: "files function returning content null (after containers exist)",
    run: svc({ files: () => [{ path: "/x", content: null }] }),
    error: EnvironmentOptionError,
    names: "services.web.files (the function's result)[0].content",
  },
  { what: 'setup "nope"', run: svc({ setup: "nope" }), error: EnvironmentOptionError, names: "services.web.setup" },
  { what: "helpers 5", run: svc({ helpers: 5 }), error: EnvironmentOptionError, names: "services.web.helpers" },
  { what: "dnsNames [null]", run: svc({ dnsNames: [null] }), error: EnvironmentOptionError, names: "services.web.dnsNames[0]" },
  { what: "dnsNames host with upper case", run: svc({ dnsNames: [dnsName("Bad_Host.test", { service: SELF_SERVICE_TOKEN })] }), error: EnvironmentOptionError, names: "services.web.dnsNames[0].host" },
  {
    what: "two services declare the same domain",
    run: start({
      a: { ...idle, dnsNames: [dnsName("*.site.test", { service: SELF_SERVICE_TOKEN })] },
      b: { ...idle, dnsNames: [dnsName("*.site.test", { service: SELF_SERVICE_TOKEN })] },
    }),
    error: EnvironmentOptionError,
    names: /services\.b\.dnsNames\[0\]\.host .*overlaps "\*\.site\.test" of service "a"/,
  },
  {
    what: "a name under another service's wildcard",
    run: start({
      a: { ...idle, dnsNames: [dnsName("*.site.test", { service: SELF_SERVICE_TOKEN })] },
      b: { ...idle, dnsNames: [dnsName("api.site.test", { service: SELF_SERVICE_TOKEN })] },
    }),
    error: EnvironmentOptionError,
    names: "services.b.dnsNames[0].host",
  },
  {
    what: "a service claims another's key as a name",
    run: start({ db: idle, web: { ...idle, dnsNames: [dnsName("db", { service: SELF_SERVICE_TOKEN })] } }),
    error: EnvironmentOptionError,
    names: /services\.web\.dnsNames\[0\]\.host .*the service key "db"/,
  },
  {
    what: "*.internal swallows other services' <key>.internal",
    run: start({ db: idle, web: { ...idle, dnsNames: [dnsName("*.internal", { service: SELF_SERVICE_TOKEN })] } }),
    error: EnvironmentOptionError,
    names: "services.web.dnsNames[0].host",
  },
  { what: 'ca "pem"', run: start({ web: idle }, { ca: "pem" }), error: EnvironmentOptionError, names: "ca" },
  { what: "ca with PEM-shaped garbage", run: start({ web: idle }, { ca: { certPem: GARBAGE_CERT, keyPem: GARBAGE_KEY } }), error: CaLoadError, names: "ca.certPem" },
  { what: 'onProgress "loud"', run: start({ web: idle }, { onProgress: "loud" }), error: EnvironmentOptionError, names: "onProgress" },
  { what: 'detached "yes"', run: start({ web: idle }, { detached: "yes" }), error: EnvironmentOptionError, names: "detached" },
  { what: "K3SBOX_CA_CERT is PEM-shaped garbage", run: start({ web: idle }), env: { K3SBOX_CA_CERT: GARBAGE_CERT, K3SBOX_CA_KEY: GARBAGE_KEY }, error: CaLoadError, names: /^K3SBOX_CA_CERT: / },
  { what: "K3SBOX_CA_KEY is PEM-shaped garbage", run: start({ web: idle }), env: { K3SBOX_CA_CERT: FIXTURE_CA_CERT, K3SBOX_CA_KEY: GARBAGE_KEY }, error: CaLoadError, names: /^K3SBOX_CA_KEY: / },
  { what: "K3SBOX_CA_KEY is another CA's key", run: start({ web: idle }), env: { K3SBOX_CA_CERT: FIXTURE_CA_CERT, K3SBOX_CA_KEY: OTHER_CA_KEY }, error: CaLoadError, names: /^K3SBOX_CA_CERT and K3SBOX_CA_KEY: / },
  { what: "K3SBOX_CA_CERT without K3SBOX_CA_KEY", run: start({ web: idle }), env: { K3SBOX_CA_CERT: GARBAGE_CERT }, error: CaLoadError, names: /K3SBOX_CA_CERT is set but K3SBOX_CA_KEY is not/ },
  { what: "k3s() extraArgs entry of 128 KiB", run: () => Promise.resolve().then(() => k3s({ extraArgs: ["--x=" + "a".repeat(128 * 1024)] })), error: K3sOptionError, names: '"extraArgs[0]"' },
  { what: 'k3s() ingressDomains "a.test"', run: () => Promise.resolve().then(() => k3s({ ingressDomains: "a.test" as never })), error: K3sOptionError, names: '"ingressDomains"' },
  { what: "k3s() misspelled option", run: () => Promise.resolve().then(() => k3s({ verison: "v1" } as never)), error: K3sOptionError, names: '"verison"' },
  { what: "docker CLI given a 140 KB argument", run: () => docker(["version", "x".repeat(140_000)]), error: ArgumentsTooLongError, names: /E2BIG/ },
];

interface CliCase {
  what: string;
  args: string[];
  env?: Record<string, string>;
  code: number;
  names: string | RegExp;
}

const CLI: CliCase[] = [
  { what: "up with a bad ingress domain", args: ["up", "--ingress-domain", "Bad_Domain"], code: 1, names: '"ingressDomains[0]"' },
  { what: "up --ready-timeout soon", args: ["up", "--ready-timeout", "soon"], code: 2, names: "--ready-timeout" },
  { what: "up --image with a shell metacharacter", args: ["up", "--image", "x; rm -rf /"], code: 2, names: "--image" },
  { what: "up --kubeconfig in a missing directory", args: ["up", "--kubeconfig", "/nonexistent/dir/kc.yaml"], code: 2, names: "--kubeconfig" },
  { what: "up --kubeconfig naming a directory", args: ["up", "--kubeconfig", "/tmp"], code: 2, names: "--kubeconfig" },
  { what: "up --version beside --image", args: ["up", "--image", BUSYBOX_IMAGE, "--version", "v2"], code: 2, names: "--version cannot be combined with --image" },
  { what: "up with K3SBOX_STATE_DIR naming a file", args: ["up", "--image", BUSYBOX_IMAGE, "--unprivileged"], env: { K3SBOX_STATE_DIR: "/etc/hostname" }, code: 1, names: /cannot write \/etc\/hostname \(a file that is not a directory is in the way, EEXIST\).*K3SBOX_STATE_DIR/ },
  { what: "up with K3SBOX_REUSE=maybe", args: ["up", "--image", BUSYBOX_IMAGE, "--unprivileged"], env: { K3SBOX_REUSE: "maybe" }, code: 1, names: "K3SBOX_REUSE must be 1 or 0" },
  { what: "up --kubeconfig through a symbolic link", args: ["up", "--kubeconfig", "/proc/self/exe"], code: 2, names: /--kubeconfig: \/proc\/self\/exe is a symbolic link/ },
  { what: "up --kubeconfig naming a file that is not a kubeconfig", args: ["up", "--kubeconfig", "/etc/hostname"], code: 2, names: /--kubeconfig: \/etc\/hostname exists and is not a kubeconfig/ },
  { what: "up --extra-arg of 128 KiB", args: ["up", "--extra-arg", "--x=" + "a".repeat(128 * 1024 - 100)], code: 1, names: '"extraArgs[0]"' },
  { what: "up --version with a space", args: ["up", "--version", "v1 2"], code: 1, names: '"version"' },
  { what: "up with an unknown flag", args: ["up", "--bogus"], code: 2, names: "--bogus" },
  {
    what: "up with PEM-shaped garbage in K3SBOX_CA_CERT",
    args: ["up", "--image", BUSYBOX_IMAGE, "--unprivileged"],
    env: { K3SBOX_CA_CERT: GARBAGE_CERT, K3SBOX_CA_KEY: GARBAGE_KEY },
    code: 1,
    names: "K3SBOX_CA_CERT",
  },
  { what: "smoke --ready-timeout 0", args: ["smoke", "--ready-timeout", "0"], code: 1, names: '"readyTimeoutSecs"' },
  { what: "prune --older-than soon", args: ["prune", "--older-than", "soon"], code: 2, names: "--older-than" },
  { what: "down without ids", args: ["down"], code: 2, names: "give environment ids, or --all" },
  { what: "down with a malformed id", args: ["down", "xyz"], code: 2, names: '"xyz" is not an environment id' },
  { what: "down with an unknown id", args: ["down", "0123456789"], code: 1, names: "no environment 0123456789" },
  { what: "down with ids and --all", args: ["down", "--all", "0123456789"], code: 2, names: "not both" },
];

const cliPath = new URL("../../cli.ts", import.meta.url).pathname;

/** Runs the CLI; returns its pid too, since its objects carry it as a label. */
function runCli(args: string[], env: Record<string, string>): Promise<{ pid: number; code: number | null; stderr: string; ms: number }> {
  const t0 = performance.now();
  const [cmd, ...pre] = scriptArgv(cliPath);
  const cp = spawn(cmd, [...pre, ...args], { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, ...env } });
  let stderr = "";
  cp.stderr!.on("data", (c) => (stderr += c));
  const killer = setTimeout(() => cp.kill("SIGKILL"), 60_000);
  return new Promise((resolve) =>
    cp.on("exit", (code, sig) => {
      clearTimeout(killer);
      resolve({ pid: cp.pid!, code: shellExitCode(code, sig), stderr, ms: Math.round(performance.now() - t0) });
    })
  );
}

async function objectsWith(label: string): Promise<string[]> {
  const [c, n] = await Promise.all([listByLabel("container", [label]), listByLabel("network", [label])]);
  return [...c, ...n].map((o) => `${o.name} (${o.labels[LABEL_ENV]})`);
}

const nameMatches = (message: string, names: string | RegExp) => (typeof names === "string" ? message.includes(names) : names.test(message));

interface Fixture {
  stateDir: string;
  cli: Map<string, { pid: number; code: number | null; stderr: string; ms: number }>;
}

suite("bad input (API and CLI, real Docker engine)", {
  setupTimeoutMs: 240_000,
  setup: async () => {
    await ensureBusyboxImage();
    // This process's and the CLI children's private directories go here, so "no files left" is checkable.
    const stateDir = await mkdtemp(join(tmpdir(), "k3sbox-bad-input-"));
    process.env.K3SBOX_STATE_DIR = stateDir;
    // The CLI cases are independent processes: run them three at a time.
    const cli = new Map<string, { pid: number; code: number | null; stderr: string; ms: number }>();
    const queue = [...CLI];
    await Promise.all([1, 2, 3].map(async () => {
      for (let c = queue.shift(); c; c = queue.shift()) cli.set(c.what, await runCli(c.args, { K3SBOX_STATE_DIR: stateDir, ...c.env }));
    }));
    return { stateDir, cli };
  },
  teardown: async (f) => {
    delete process.env.K3SBOX_STATE_DIR;
    await rm(f.stateDir, { recursive: true, force: true });
  },
}, (t) => {
  for (const c of API) {
    t(`API: ${c.what}`, async (f) => {
      const before = new Set(await objectsWith(`${LABEL_SESSION}=${SESSION_ID}`));
      const saved = Object.fromEntries(Object.keys(c.env ?? {}).map((k) => [k, process.env[k]]));
      Object.assign(process.env, c.env ?? {});
      const t0 = performance.now();
      let err: unknown;
      try {
        await c.run();
      } catch (e) {
        err = e;
      } finally {
        for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
      }
      const ms = Math.round(performance.now() - t0);
      assert.ok(err instanceof c.error, `expected ${c.error.name}, got ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
      assert.ok(!(err instanceof TypeError), "a raw TypeError");
      assert.ok(nameMatches(err.message, c.names), `the message must name ${c.names}: ${err.message}`);
      console.error(`  failed in ${ms} ms: ${err.message.split("\n")[0].slice(0, 160)}`);
      const added = (await objectsWith(`${LABEL_SESSION}=${SESSION_ID}`)).filter((o) => !before.has(o));
      assert.deepEqual(added, [], "containers or networks left behind");
      assert.deepEqual(await readdir(f.stateDir), [], "private directories left behind");
    });
  }
  t('loadImages("app") when the host has only app:1: refused as app:latest, naming the tag it has (not imported as app:1)', async () => {
    const repo = `k3sbox-bad-input-tagged-${process.pid}`;
    await docker(["tag", BUSYBOX_IMAGE, `${repo}:1`]);
    try {
      // No node needed: the host-side check fails first.
      const err = await loadImages("k3sbox-no-such-node", [repo]).then(() => assert.fail("accepted"), (e: Error) => e);
      assert.ok(err instanceof LoadImagesError, `${err.name}: ${err.message}`);
      assert.match(err.message, new RegExp(`"${repo}:latest" is not in the host's Docker; .*or name a tag it has: ${repo}:1`));
    } finally {
      await docker(["rmi", `${repo}:1`]).catch(() => {});
    }
  });
  for (const c of CLI) {
    t(`CLI: k3sbox ${c.what}`, async (f) => {
      const r = f.cli.get(c.what)!;
      assert.equal(r.code, c.code, r.stderr);
      assert.ok(nameMatches(r.stderr, c.names), `stderr must name ${c.names}: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /TypeError|ENOENT|at .*\.ts:\d+/, "no raw error or stack trace");
      console.error(`  exit ${r.code} after ${r.ms} ms: ${r.stderr.trim().split("\n")[0].slice(0, 160)}`);
      assert.deepEqual(await objectsWith(`${LABEL_PID}=${r.pid}`), [], "containers or networks left behind");
      assert.deepEqual(await readdir(f.stateDir), [], "private directories left behind");
    });
  }
});
