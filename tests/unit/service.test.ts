import assert from "node:assert/strict";
import { test } from "../harness.ts";
import { dnsName, expandServiceToken, fileMode, matchesDnsName, provides, SELF_SERVICE_TOKEN } from "../../lib/service.ts";

test("dnsName/provides add declarations without mutating the definition", () => {
  const def = { image: { type: "registry" as const, reference: "x" } };
  const out = provides(def, [dnsName("*.a.test", { service: SELF_SERVICE_TOKEN })]);
  assert.deepEqual(out.dnsNames, [{ kind: "dnsName", host: "*.a.test", service: SELF_SERVICE_TOKEN }]);
  assert.equal((def as { dnsNames?: unknown }).dnsNames, undefined);
  assert.equal(provides(out, [dnsName("b.test", { service: "k" })]).dnsNames?.length, 2);
});

test("expandServiceToken replaces every occurrence", () => {
  assert.equal(expandServiceToken(`${SELF_SERVICE_TOKEN}.internal:5000 ${SELF_SERVICE_TOKEN}`, "k8s"), "k8s.internal:5000 k8s");
});

test("fileMode: explicit mode wins, private keys default to 0600, other files 0644", () => {
  assert.equal(fileMode({ path: "/a", content: "-----BEGIN EC PRIVATE KEY-----\n" }), 0o600);
  assert.equal(fileMode({ path: "/a", content: "-----BEGIN PRIVATE KEY-----\n" }), 0o600);
  assert.equal(fileMode({ path: "/a", content: "-----BEGIN CERTIFICATE-----\n" }), 0o644);
  assert.equal(fileMode({ path: "/a", content: "x", mode: 0o755 }), 0o755);
});

test("matchesDnsName: exact names and wildcards at any depth under the domain", () => {
  assert.ok(matchesDnsName("*.example.test", "hello.example.test"));
  assert.ok(matchesDnsName("*.example.test", "a.b.example.test"));
  assert.ok(matchesDnsName("*.example.test", "HELLO.Example.Test."));
  assert.ok(!matchesDnsName("*.example.test", "example.test"));
  assert.ok(!matchesDnsName("*.example.test", "badexample.test"));
  assert.ok(matchesDnsName("api.test", "api.test"));
  assert.ok(!matchesDnsName("api.test", "x.api.test"));
});
