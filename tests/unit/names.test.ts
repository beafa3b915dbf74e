// The DNS name rules (lib/names.ts) every hostname, alias, certificate name and object name is checked against.
import assert from "node:assert/strict";
import { test } from "../harness.ts";
import { isDnsLabel, isDnsName, isKubernetesName } from "../../lib/names.ts";

test("DNS label: lowercase letters, digits and inner hyphens, 1-63 characters", () => {
  for (const ok of ["a", "0", "web", "web-0", "a-b-c", "1abc", "a".repeat(63)]) assert.ok(isDnsLabel(ok), ok);
  // Each of these would pass a loosened rule (uppercase, edge hyphens, dots, underscores, length, empty).
  for (const bad of ["", "Web", "-a", "a-", "a.b", "a_b", "a b", "a".repeat(64), "é"]) assert.ok(!isDnsLabel(bad), bad);
  for (const bad of [undefined, null, 1, ["a"]]) assert.ok(!isDnsLabel(bad), String(bad));
});

test("DNS label with a shorter limit (companion names, namespace prefixes)", () => {
  assert.ok(isDnsLabel("a".repeat(32), 32));
  assert.ok(!isDnsLabel("a".repeat(33), 32));
});

test("DNS name: dot-separated labels, at most 253 characters, at least minLabels labels", () => {
  for (const ok of ["a", "example.test", "x-1.example.test", `${"a".repeat(63)}.${"b".repeat(63)}`]) assert.ok(isDnsName(ok), ok);
  for (const bad of ["", ".", "a.", ".a", "a..b", "A.test", "a_b.test", "-a.test", `${"a".repeat(64)}.test`, "*.example.test", 42]) {
    assert.ok(!isDnsName(bad), String(bad));
  }
  const long = Array(64).fill("abc").join("."); // 255 characters, every label fine
  assert.equal(isDnsName(long), false);
  assert.ok(isDnsName(long.slice(0, 251)));
  assert.ok(isDnsName("a.b.c", 3));
  assert.ok(!isDnsName("a.b", 3));
});

test("Kubernetes object name: a DNS-1123 subdomain (labels may exceed 63 characters), at most 253", () => {
  for (const ok of ["web", "web-0", "v1.example.test", "a".repeat(100), "a".repeat(253)]) assert.ok(isKubernetesName(ok), ok);
  for (const bad of ["", "Web", "-web", "web-", "a..b", "a.-b", "web_0", "a".repeat(254), undefined]) assert.ok(!isKubernetesName(bad), String(bad));
});
