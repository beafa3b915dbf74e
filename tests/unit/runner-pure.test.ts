import assert from "node:assert/strict";
import { test } from "../harness.ts";
import { EnvironmentOptionError, validateServices } from "../../lib/runner/validate.ts";
import { resolveRoute, RoutingError } from "../../lib/runner/routing.ts";
import { parseArgs, parseDuration, UsageError } from "../../lib/cli/args.ts";
import { clusterFromFlags } from "../../lib/cli/cluster-flags.ts";
import { demoManifest } from "../../lib/cli/smoke.ts";
import { parseManifest } from "../../lib/kube/manifest.ts";

const img = { type: "registry" as const, reference: "busybox:1" };

const badServices: [string, unknown, RegExp][] = [
  ["no services", {}, /services must be a non-empty object/],
  ["services not an object", [img], /services must be a non-empty object/],
  ["key with upper case", { Web: { image: img } }, /service key "Web" must be a DNS label/],
  ["key with a dot", { "a.b": { image: img } }, /service key "a\.b"/],
  ["missing image", { web: {} }, /services\.web\.image must be \{ type: "registry"/],
  ["empty command argv", { web: { image: img, command: [] } }, /services\.web\.command must be a non-empty shell string or a non-empty argv array/],
  ["port out of range", { web: { image: img, ports: [70000] } }, /services\.web\.ports must be an array of distinct TCP ports/],
  ["env name", { web: { image: img, env: { "A-B": "x" } } }, /services\.web\.env\["A-B"\] must be a variable name/],
  ["env value", { web: { image: img, env: { A: 1 } } }, /services\.web\.env\.A/],
  ["relative tmpfs", { web: { image: img, tmpfs: ["run"] } }, /services\.web\.tmpfs\[0\] must be an absolute path/],
  ["cgroupns", { web: { image: img, cgroupns: "shared" } }, /services\.web\.cgroupns must be "host" or "private"/],
  ["ready timeout", { web: { image: img, readyCheck: { type: "exec", command: "true", timeoutSecs: 0 } } }, /readyCheck\.timeoutSecs must be a positive, finite number of seconds no larger than 2147483/],
  ["http check on an unpublished port", { web: { image: img, ports: [80], readyCheck: { type: "http", port: 8080, timeoutSecs: 5 } } }, /readyCheck\.port must be one of the service's published ports \(80\)/],
  ["unknown check type", { web: { image: img, readyCheck: { type: "tcp", timeoutSecs: 5 } } }, /readyCheck\.type must be "exec" or "http"/],
  ["dnsName owned by a stranger", { web: { image: img, dnsNames: [{ kind: "dnsName", host: "a.test", service: "nope" }] } }, /dnsNames\[0\]\.service must be a service of this environment \(web\)/],
];
for (const [what, services, message] of badServices) {
  test(`startEnvironment validation: ${what}`, () => {
    assert.throws(() => validateServices(services), (e: unknown) => e instanceof EnvironmentOptionError && message.test((e as Error).message));
  });
}

test("startEnvironment validation: a complete definition passes", () => {
  assert.doesNotThrow(() =>
    validateServices({ web: { image: img, command: "httpd", ports: [80], env: { A_1: "x" }, tmpfs: ["/run"], readyCheck: { type: "http", port: 80, timeoutSecs: 5 } } })
  );
});

test("routing: wildcard names, <key> and <key>.internal go to the published port for the scheme", () => {
  const routes = [{ key: "k8s", patterns: ["*.example.test"], ports: { 80: 30080, 443: 30443 } }];
  assert.deepEqual(resolveRoute(routes, new URL("https://hello.example.test/x")), { key: "k8s", hostPort: 30443, host: "127.0.0.1" });
  assert.deepEqual(resolveRoute(routes, new URL("http://hello.example.test/x")), { key: "k8s", hostPort: 30080, host: "127.0.0.1" });
  assert.deepEqual(resolveRoute(routes, new URL("http://k8s.internal/")), { key: "k8s", hostPort: 30080, host: "127.0.0.1" });
  // The topology's address (docker/topology.ts), e.g. a tcp:// daemon's host.
  assert.deepEqual(resolveRoute([{ ...routes[0], host: "172.18.0.2" }], new URL("http://k8s/")), { key: "k8s", hostPort: 30080, host: "172.18.0.2" });
  assert.equal(resolveRoute(routes, new URL("https://example.org/")), undefined);
  assert.throws(() => resolveRoute(routes, new URL("http://k8s:6443/")), (e: unknown) => e instanceof RoutingError && /does not publish port 6443 \(it publishes 80, 443\)/.test((e as Error).message));
});

test("cli args: --flag value, --flag=value, repeated lists, booleans, positionals", () => {
  const spec = { a: { kind: "string" as const, help: "" }, l: { kind: "list" as const, help: "" }, b: { kind: "boolean" as const, help: "" } };
  assert.deepEqual(parseArgs(["x", "--a", "1", "--l=p", "--l", "q", "--b"], spec, "t"), { flags: { a: "1", l: ["p", "q"], b: true }, positionals: ["x"] });
  assert.throws(() => parseArgs(["--zzz"], spec, "up"), /k3sbox up: unknown flag --zzz \(see k3sbox up --help\)/);
  assert.throws(() => parseArgs(["--a"], spec, "up"), /--a needs a value/);
  assert.throws(() => parseArgs(["--b=1"], spec, "up"), /--b takes no value/);
});

test("cli durations", () => {
  assert.equal(parseDuration("90s", "older-than"), 90_000);
  assert.equal(parseDuration("2h", "older-than"), 7_200_000);
  assert.equal(parseDuration("15", "older-than"), 15_000);
  assert.throws(() => parseDuration("soon", "older-than"), (e: unknown) => e instanceof UsageError && /--older-than must be a duration such as 90s/.test((e as Error).message));
});

test("cli cluster flags map onto k3s() options and validate", () => {
  const def = clusterFromFlags({ "ingress-domain": ["a.test"], "no-registry": true, "ready-timeout": "30", image: "k3sbox-testbed:latest", unprivileged: true });
  assert.equal(def.image.reference, "k3sbox-testbed:latest");
  assert.equal(def.privileged, false);
  assert.deepEqual(def.ports, [80, 443, 6443]);
  assert.equal(def.readyCheck?.timeoutSecs, 30);
  assert.equal(def.dnsNames?.[0].host, "*.a.test");
  assert.throws(() => clusterFromFlags({ "ready-timeout": "soon" }), /--ready-timeout must be a number of seconds/);
  assert.throws(() => clusterFromFlags({ image: "x; rm -rf /" }), /--image must be an image reference/);
  assert.throws(() => clusterFromFlags({ "ingress-domain": ["Bad_Domain"] }), /option "ingressDomains\[0\]"/);
});

test("smoke demo manifest: Deployment, Service and an Ingress for the host", () => {
  const docs = parseManifest(demoManifest("hello.k3sbox.test")).map((d) => d.object);
  assert.deepEqual(docs.map((d) => d.kind), ["Deployment", "Service", "Ingress"]);
  assert.equal((docs[2] as { spec: { rules: { host: string }[] } }).spec.rules[0].host, "hello.k3sbox.test");
});
