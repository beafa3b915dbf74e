// Hostile input, pure tier: each case is an input, the error it must get
// (naming the field and the allowed form) and — since these checks run
// before Docker is touched — nothing can be left behind; the Docker tier's
// bad-input suite runs the same kind of input through startEnvironment and
// the CLI and checks the daemon and the state directory afterwards.

import assert from "node:assert/strict";
import { test } from "../harness.ts";
import { EnvironmentOptionError, validateEnvironmentOptions } from "../../lib/runner/validate.ts";
import { K3sOptionError, resolveK3sOptions } from "../../lib/k3s/options.ts";
import { clusterFromFlags } from "../../lib/cli/cluster-flags.ts";
import { UsageError } from "../../lib/cli/args.ts";
import { checkCount, checkTimeoutMs, describeValue, MAX_TIMER_MS } from "../../lib/limits.ts";
import { closest } from "../../lib/suggest.ts";
import { hookTimeoutMs, HookTimeoutError, runHook } from "../../lib/runner/hooks.ts";

const img = { type: "registry" as const, reference: "busybox:1" };
const svc = (extra: Record<string, unknown>) => ({ services: { web: { image: img, ...extra } } });
// deno-lint-ignore no-sparse-arrays
const sparse = (...rest: unknown[]) => [, ...rest];

const environmentCases: [string, unknown, RegExp][] = [
  ["readyCheck.timeoutSecs 1e7 (overflows setTimeout)", svc({ readyCheck: { type: "exec", command: "true", timeoutSecs: 1e7 } }), /services\.web\.readyCheck\.timeoutSecs must be a positive, finite number of seconds no larger than 2147483 \(what setTimeout can hold\).*got 10000000$/],
  ["readyCheck.timeoutSecs NaN is shown as NaN, not null", svc({ readyCheck: { type: "exec", command: "true", timeoutSecs: NaN } }), /got NaN$/],
  ["readyCheck.timeoutSecs Infinity", svc({ readyCheck: { type: "exec", command: "true", timeoutSecs: Infinity } }), /got Infinity$/],
  ["misspelled field readycheck", svc({ readycheck: { type: "exec", command: "true", timeoutSecs: 5 } }), /services\.web\.readycheck must be a field of a ServiceDefinition — did you mean "readyCheck"\?/],
  ["misspelled field comand", svc({ comand: "sleep 1" }), /services\.web\.comand must be a field of a ServiceDefinition — did you mean "command"\?/],
  ["misspelled readyCheck field timeoutSec", svc({ readyCheck: { type: "exec", command: "true", timeoutSec: 5 } }), /readyCheck\.timeoutSec must be a field of a readyCheck of type "exec" — did you mean "timeoutSecs"\?/],
  ["an http field on an exec check", svc({ readyCheck: { type: "exec", command: "true", port: 80, timeoutSecs: 5 } }), /readyCheck\.port must be a field of a readyCheck of type "exec"/],
  ["misspelled top-level option servics", { servics: {} }, /servics must be a field of startEnvironment's options — did you mean "services"\?/],
  ["sparse ports", svc({ ports: sparse(80) }), /services\.web\.ports\[0\] must be an element \(the array has a hole there/],
  ["sparse tmpfs", svc({ tmpfs: sparse("/run") }), /services\.web\.tmpfs\[0\] must be an element/],
  ["sparse command argv", svc({ command: sparse("sh") }), /services\.web\.command\[0\] must be an element/],
  ['command [""] (an empty program)', svc({ command: [""] }), /services\.web\.command must be .*first element \(the program\) is not empty/],
  ['tmpfs "/"', svc({ tmpfs: ["/"] }), /services\.web\.tmpfs\[0\] must be an absolute path other than "\/"/],
  ["tmpfs with ..", svc({ tmpfs: ["/run/../etc"] }), /services\.web\.tmpfs\[0\]/],
  ["tmpfs with empty options", svc({ tmpfs: ["/run:"] }), /services\.web\.tmpfs\[0\]/],
  ["tmpfs with a space in its options", svc({ tmpfs: ["/run:size=1m mode=1"] }), /services\.web\.tmpfs\[0\]/],
  ['files path ending in "/"', svc({ files: [{ path: "/etc/", content: "x" }] }), /services\.web\.files\[0\]\.path must be an absolute file path/],
  ['files path with "."', svc({ files: [{ path: "/etc/./x", content: "x" }] }), /services\.web\.files\[0\]\.path/],
  ["files entry with a misspelled field", svc({ files: [{ path: "/x", contents: "x" }] }), /services\.web\.files\[0\]\.contents must be a field of a file .* did you mean "content"\?/],
  ["sparse files", svc({ files: sparse({ path: "/x", content: "" }) }), /services\.web\.files\[0\] must be an element/],
  ["hookTimeoutSecs 1e9", svc({ hookTimeoutSecs: 1e9 }), /services\.web\.hookTimeoutSecs must be a positive, finite number of seconds no larger than 2147483/],
  ["hookTimeoutSecs \"30\"", svc({ hookTimeoutSecs: "30" }), /services\.web\.hookTimeoutSecs .*got "30"$/],
  ["diagnostics not a function", svc({ diagnostics: "yes" }), /services\.web\.diagnostics must be a function/],
  ["prepare not a function", svc({ prepare: { mounts: [] } }), /services\.web\.prepare must be a function/],
  ["prepare misspelled", svc({ prepar: () => Promise.resolve({}) }), /services\.web\.prepar .*did you mean "prepare"\?/],
];
for (const [what, input, message] of environmentCases) {
  test(`hostile input, startEnvironment: ${what}`, () => {
    const err = (() => {
      try {
        validateEnvironmentOptions(input);
      } catch (e) {
        return e as Error;
      }
      assert.fail("accepted");
    })();
    assert.ok(err instanceof EnvironmentOptionError, `${err.name}: ${err.message}`);
    assert.match(err.message, message);
  });
}

test("hostile input, startEnvironment: a service key named like a prototype property is its own key, not Object's", () => {
  // "constructor" is a valid DNS label; it must be validated as the object the user gave, not Object.prototype.constructor.
  assert.throws(() => validateEnvironmentOptions({ services: { constructor: { image: 5 } } }), /services\.constructor\.image must be/);
  validateEnvironmentOptions({ services: { constructor: { image: img } } });
});

const k3sCases: [string, unknown, RegExp][] = [
  ["sparse ingressDomains", { ingressDomains: sparse("a.test") }, /option "ingressDomains\[0\]" must be an element \(the array has a hole there/],
  ["an IP address as ingress domain", { ingressDomains: ["10.0.0.1"] }, /option "ingressDomains\[0\]" must be a lowercase DNS name .*not an IP address.*got "10\.0\.0\.1"/],
  ["sparse extraArgs", { extraArgs: sparse("--x") }, /option "extraArgs\[0\]" must be an element/],
  ["readyTimeoutSecs above setTimeout's limit", { readyTimeoutSecs: 3_000_000 }, /option "readyTimeoutSecs" must be a positive, finite number of seconds no larger than 2147483 .*got 3000000$/],
  ["readyTimeoutSecs NaN shown as NaN", { readyTimeoutSecs: NaN }, /got NaN$/],
  ["misspelled option ingresDomains", { ingresDomains: ["a.test"] }, /option "ingresDomains" must be one of the known options — did you mean "ingressDomains"\?/],
];
for (const [what, input, message] of k3sCases) {
  test(`hostile input, k3s(): ${what}`, () => {
    assert.throws(() => resolveK3sOptions(input as never), (e: Error) => e instanceof K3sOptionError && message.test(e.message) || assert.fail(e.message));
  });
}

test("hostile input, k3s(): a circular value is described, not a RangeError/TypeError from JSON", () => {
  const loop: Record<string, unknown> = {};
  loop.self = loop;
  assert.throws(() => resolveK3sOptions({ version: loop } as never), (e: Error) => e instanceof K3sOptionError && /option "version"/.test(e.message) || assert.fail(e.message));
});

test("hostile input, CLI: --version beside --image is refused (it would be ignored), saying how to give the tag", () => {
  assert.throws(() => clusterFromFlags({ image: "k3sbox-testbed:1", version: "v2" }), (e: Error) => e instanceof UsageError && /--version cannot be combined with --image .*--image k3sbox-testbed:v2/.test(e.message) || assert.fail(e.message));
});

test("limits: timeouts are finite, positive and within 2^31-1 ms; values are shown as they are", () => {
  assert.equal(MAX_TIMER_MS, 2147483647);
  assert.equal(checkTimeoutMs(MAX_TIMER_MS, "x"), MAX_TIMER_MS);
  for (const bad of [0, -1, NaN, Infinity, MAX_TIMER_MS + 1, "1000", null]) {
    assert.throws(() => checkTimeoutMs(bad, 'f(): option "timeoutMs"'), /^TypeError: f\(\): option "timeoutMs" must be a positive, finite number of milliseconds no larger than 2147483647/);
  }
  assert.throws(() => checkCount(1.5, "n"), /n must be an integer from 0/);
  assert.equal(describeValue(NaN), "NaN");
  assert.equal(describeValue(-Infinity), "-Infinity");
  const loop: Record<string, unknown> = {};
  loop.self = loop;
  assert.equal(describeValue(loop), "[object Object]");
  assert.equal(closest("readycheck", ["readyCheck", "ready"]), "readyCheck");
  assert.equal(closest("zzzzzz", ["image", "command"]), undefined);
});

test("hooks: one that never settles fails at its deadline with a HookTimeoutError naming service and hook; its signal aborts", async () => {
  let seen: AbortSignal | undefined;
  const t0 = performance.now();
  const err = await runHook("web", "setup", 200, undefined, (signal) => {
    seen = signal;
    return new Promise(() => {});
  }).then(() => assert.fail("settled"), (e: Error) => e);
  assert.ok(err instanceof HookTimeoutError, err.message);
  assert.match(err.message, /service "web": its setup hook did not settle within 0\.2 s \(raise the definition's hookTimeoutSecs/);
  assert.ok(performance.now() - t0 < 1_200);
  assert.equal(seen?.aborted, true, "the hook's signal aborts at its deadline");
});

test("hooks: a synchronous throw is a rejection; the parent's abort ends the hook with its reason", async () => {
  await assert.rejects(runHook("web", "dispose", 1_000, undefined, () => {
    throw new Error("sync boom");
  }), /sync boom/);
  const parent = new AbortController();
  const pending = runHook("web", "helpers", 60_000, parent.signal, () => new Promise(() => {}));
  parent.abort(new Error("the environment was stopped"));
  await assert.rejects(pending, /the environment was stopped/);
  assert.equal(hookTimeoutMs("web", {}), 300_000);
  assert.equal(hookTimeoutMs("web", { hookTimeoutSecs: 2 }), 2_000);
});

test("hostile input, manifests: a circular object, a sparse array and an upper-case name fail naming the document, before anything is sent", async () => {
  const { parseManifest, ApplyError } = await import("../../lib/kube/manifest.ts");
  const loop: Record<string, unknown> = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "a" }, data: {} };
  (loop.data as Record<string, unknown>).self = loop;
  assert.throws(() => parseManifest(loop), (e: Error) => e instanceof ApplyError && /document 1 \(a circular object\): it contains itself at data\.self/.test(e.message) || assert.fail(e.message));
  assert.throws(() => parseManifest(sparse({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "a" } }) as never), /document 1 \(a hole\)/);
  assert.throws(
    () => parseManifest("apiVersion: v1\nkind: ConfigMap\nmetadata: { name: ok }\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: { name: Hello }\n"),
    (e: Error) => e instanceof ApplyError && /document 2 \(ConfigMap Hello\): metadata\.name must be a lowercase DNS subdomain name .*got "Hello"/.test(e.message) || assert.fail(e.message),
  );
  // RBAC names are path segments: upper case is allowed there, as the API server allows it.
  assert.equal(parseManifest({ apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole", metadata: { name: "system:Admin" } }).length, 1);
});

test("hostile input, manifests: YAML merge keys (<<) are resolved, not sent as a \"<<\" field", async () => {
  const { parseManifest } = await import("../../lib/kube/manifest.ts");
  const [doc] = parseManifest(`
base: &base { app: web, tier: front }
apiVersion: v1
kind: ConfigMap
metadata: { name: merged }
data:
  <<: *base
  tier: back
`);
  assert.deepEqual((doc.object as unknown as { data: Record<string, string> }).data, { app: "web", tier: "back" });
});

test("hostile input, env.fetch: schemes it cannot route are refused, an already-aborted signal rejects at once (nothing is sent)", async () => {
  const { createEnvFetch, RoutingError } = await import("../../lib/runner/routing.ts");
  const { Recorder } = await import("../../lib/recorder.ts");
  const recorder = new Recorder();
  const f = createEnvFetch([{ key: "web", patterns: ["*.site.test"], ports: { 80: 1, 443: 1 } }], "", recorder);
  for (const url of ["ftp://a.site.test/x", "ws://web/", "file:///etc/passwd"]) {
    await assert.rejects(f(url), (e: Error) => e instanceof RoutingError && /the scheme "\w+" cannot be routed; give an http:\/\/ or https:\/\/ URL/.test(e.message) || assert.fail(e.message));
  }
  const ctl = new AbortController();
  ctl.abort(new Error("given up before"));
  await assert.rejects(f("https://a.site.test/", { signal: ctl.signal }), /given up before/);
  await assert.rejects(f(new Request("http://elsewhere.invalid/", { signal: ctl.signal })), /given up before/);
  assert.ok(recorder.events().every((e) => e.status === undefined), "no request got an answer");
});

test("hostile input, CA: an expired CA, one not yet valid, and an RSA-1024 key are refused, naming the input", async () => {
  const { loadCaNamed, CaLoadError } = await import("../../lib/pki.ts");
  const { loadX509 } = await import("../../deps.ts");
  const { run } = await import("../../lib/proc.ts");
  const x509 = await loadX509();
  const { webcrypto } = await import("node:crypto");
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"]) as CryptoKeyPair;
  const keyPem = x509.PemConverter.encode(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey), "PRIVATE KEY");
  const ca = async (notBefore: Date, notAfter: Date) =>
    (await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: "01",
      name: "CN=test CA",
      notBefore,
      notAfter,
      keys,
      signingAlgorithm: alg,
      extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
    })).toString("pem");
  const day = 86_400_000;
  const names = { cert: "K3SBOX_CA_CERT", key: "K3SBOX_CA_KEY" };
  await assert.rejects(loadCaNamed(await ca(new Date(Date.now() - 10 * day), new Date(Date.now() - day)), keyPem, names), (e: Error) =>
    e instanceof CaLoadError && /^K3SBOX_CA_CERT: CA certificate "CN=test CA" expired on \d{4}-/.test(e.message) || assert.fail(e.message));
  await assert.rejects(loadCaNamed(await ca(new Date(Date.now() + day), new Date(Date.now() + 10 * day)), keyPem, names), /^CaLoadError: K3SBOX_CA_CERT: CA certificate "CN=test CA" is not valid until/);
  await loadCaNamed(await ca(new Date(Date.now() - day), new Date(Date.now() + day)), keyPem, names); // valid now: accepted

  const dir = await (await import("node:fs/promises")).mkdtemp("/tmp/k3sbox-weak-ca-");
  try {
    const r = await run("openssl", ["req", "-x509", "-newkey", "rsa:1024", "-nodes", "-days", "1", "-subj", "/CN=weak", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=keyCertSign", "-keyout", `${dir}/k`, "-out", `${dir}/c`]);
    assert.equal(r.code, 0, r.stderr);
    const { readFile } = await import("node:fs/promises");
    await assert.rejects(loadCaNamed(await readFile(`${dir}/c`, "utf8"), await readFile(`${dir}/k`, "utf8"), names), /^CaLoadError: K3SBOX_CA_KEY: CA key is RSA-1024: too weak .*at least 2048 bits/);
  } finally {
    await (await import("node:fs/promises")).rm(dir, { recursive: true, force: true });
  }
});

test("hostile input, environment variables: on/off values are understood (yes/off too), anything else is an error naming the variable and its values", async () => {
  const { envFlag, checkEnvFlags, EnvVarError } = await import("../../lib/runner/env-flags.ts");
  assert.equal(envFlag("K3SBOX_REUSE", false, { K3SBOX_REUSE: "yes" }), true, "yes means on");
  assert.equal(envFlag("K3SBOX_REAPER", true, { K3SBOX_REAPER: "off" }), false, "off means off");
  assert.equal(envFlag("K3SBOX_REAPER", true, { K3SBOX_REAPER: "" }), true, "empty is unset");
  for (const [variable, value] of [["K3SBOX_REUSE", "maybe"], ["K3SBOX_REAPER", "disabled"]]) {
    assert.throws(() => checkEnvFlags({ [variable]: value }), (e: Error) =>
      e instanceof EnvVarError && e.message === `${variable} must be 1 or 0 (also accepted: true/false, yes/no, on/off; empty means unset); got "${value}"` || assert.fail(e.message));
  }
});

test("hostile input, processes: a child's timeoutMs is checked (NaN would kill it at once or never), naming the command", async () => {
  const { run } = await import("../../lib/proc.ts");
  for (const bad of [NaN, 1e10, -1]) {
    await assert.rejects(run("true", [], { timeoutMs: bad }), /^TypeError: run\(true\): option "timeoutMs" must be a positive, finite number of milliseconds no larger than 2147483647/);
  }
  assert.equal((await run("true", [], { timeoutMs: 5_000 })).code, 0);
});
