import assert from "node:assert/strict";
import { test } from "../harness.ts";
import { DEFAULT_K3S_VERSION, K3sOptionError, resolveK3sOptions } from "../../lib/k3s/options.ts";

test("k3s options: defaults match the reference", () => {
  assert.deepEqual(resolveK3sOptions(), { version: "v1.32.1-k3s1", image: "rancher/k3s:v1.32.1-k3s1", extraArgs: [], readyTimeoutSecs: 120, registry: true, ingressDomains: [], mirrors: {}, agents: 0 });
  assert.equal(DEFAULT_K3S_VERSION, "v1.32.1-k3s1");
  assert.equal(resolveK3sOptions({ registry: false }).registry, false);
});

const bad: [string, unknown, RegExp][] = [
  ["version", "v1.32; rm -rf /", /option "version" must be a Docker image tag such as "v1.32.1-k3s1"/],
  ["version", "", /option "version"/],
  ["version", 132, /option "version"/],
  ["extraArgs", "--tls-san=x", /option "extraArgs" must be an array of strings/],
  ["extraArgs", ["--ok", 5], /option "extraArgs\[1\]" must be a non-empty string/],
  ["extraArgs", [""], /option "extraArgs\[0\]"/],
  ["readyTimeoutSecs", 0, /option "readyTimeoutSecs" must be a positive, finite number of seconds no larger than 2147483/],
  ["readyTimeoutSecs", -5, /readyTimeoutSecs/],
  ["readyTimeoutSecs", Number.NaN, /readyTimeoutSecs/],
  ["readyTimeoutSecs", "60", /readyTimeoutSecs/],
  ["registry", "yes", /option "registry" must be true or false/],
  ["ingressDomains", "example.test", /option "ingressDomains" must be an array of DNS names/],
  ["ingressDomains", [""], /option "ingressDomains\[0\]" must be a lowercase DNS name/],
  ["ingressDomains", ["*.example.test"], /ingressDomains\[0\].*no wildcard/],
  ["ingressDomains", ["ok.test", "bad_domain.test"], /ingressDomains\[1\]/],
  ["ingressDomains", ["-x.test"], /ingressDomains\[0\]/],
  ["ingressDomains", ["a".repeat(64) + ".test"], /ingressDomains\[0\]/],
  ["ingressDomain", ["typo.test"], /option "ingressDomain" must be one of the known options/],
];
for (const [option, value, message] of bad) {
  test(`k3s options: rejects ${option}=${JSON.stringify(value)} with a message naming it`, () => {
    assert.throws(() => resolveK3sOptions({ [option]: value } as never), (err: unknown) => {
      assert.ok(err instanceof K3sOptionError);
      assert.match((err as Error).message, message);
      return true;
    });
  });
}

test("k3s options: accepts valid domains and args", () => {
  const o = resolveK3sOptions({ ingressDomains: ["example.test", "a-b.c0.dev"], extraArgs: ["--disable=local-storage"], readyTimeoutSecs: 0.5 });
  assert.deepEqual(o.ingressDomains, ["example.test", "a-b.c0.dev"]);
  assert.equal(o.readyTimeoutSecs, 0.5);
});
