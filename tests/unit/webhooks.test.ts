// The pure parts of host.k3sbox.internal and webhooks(): the host-address
// decision per topology, AdmissionReview / ConversionReview handling,
// clientConfig rewriting, option validation, NodeHosts merging and the
// timeline line of a webhook call. No Docker, no cluster.

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { test } from "../harness.ts";
import { decideTopology } from "../../lib/docker/topology.ts";
import { addHostEntry, decideHostAddress, HOST_ALIAS, HostAddressError, hostAddressOf } from "../../lib/docker/host-address.ts";
import { checkDecision, handleAdmission, handleConversion, parseAdmissionReview, WebhookRequestError } from "../../lib/kube/admission.ts";
import {
  mergePlans,
  planFromHandlers,
  PROBE_LABEL,
  PROBE_PATH_PREFIX,
  rewriteConfigurations,
} from "../../lib/kube/webhook-config.ts";
import { validateWebhookOptions, WebhookOptionError } from "../../lib/kube/webhook-options.ts";
import type { KubeObject } from "../../lib/kube/manifest.ts";
import { mergeNodeHosts, nodeHostsEntries } from "../../lib/k3s/setup.ts";
import { describeEvent, Recorder } from "../../lib/recorder.ts";
import { createContainer, DockerArgumentError } from "../../lib/docker.ts";
import { EnvironmentOptionError } from "../../lib/runner/validate.ts";
import { validateEnvironmentOptions } from "../../lib/runner/validate.ts";

const ID = "b".repeat(64);
const BASE = "https://host.k3sbox.internal:8443";
const CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const allow = () => ({ allowed: true });
const same = (o: KubeObject) => o;

// ---------------------------------------------------------------------------
// host address per topology

test("host address: a local daemon → the environment network's gateway, never all interfaces", () => {
  const t = decideTopology({});
  const d = decideHostAddress(t, { gateway: "172.20.0.1" });
  assert.deepEqual(d.ok && d.address, "172.20.0.1");
  assert.equal(addHostEntry(d), `${HOST_ALIAS}:172.20.0.1`);
  assert.equal(hostAddressOf(d, t, "env.hostAddress"), "172.20.0.1");
  // A process in a container with the host's network shares the host: the gateway too.
  const own = { id: ID, name: "runner", networkMode: "host", networks: {} };
  assert.equal(hostAddressOf(decideHostAddress(decideTopology({ ownContainer: own }), { gateway: "172.20.0.1" }), t, "x"), "172.20.0.1");
});

test("host address: this process in a container on the environment's network → its own address there", () => {
  const own = { id: ID, name: "runner", networkMode: "bridge", networks: { bridge: { ip: "172.17.0.5", gateway: "172.17.0.1" } } };
  const t = decideTopology({ ownContainer: own });
  assert.equal(t.kind, "container");
  const d = decideHostAddress(t, { ownIp: "172.21.0.3", gateway: "172.21.0.1" });
  assert.equal(d.ok && d.address, "172.21.0.3");
  const none = decideHostAddress(t, {});
  assert.equal(none.ok, false);
  assert.throws(() => hostAddressOf(none, t, "env.hostAddress"), /no address on the environment's network/);
});

test("host address: tcp:// and ssh:// daemons have none, and say so naming the topology and the override", () => {
  for (const dockerHost of ["tcp://10.0.0.2:2375", "ssh://me@build.example"]) {
    const t = decideTopology({ dockerHost });
    const d = decideHostAddress(t, { gateway: "172.20.0.1" });
    assert.equal(d.ok, false);
    assert.equal(addHostEntry(d), undefined, "no host.k3sbox.internal pointing at the wrong machine");
    assert.throws(
      () => hostAddressOf(d, t, "env.hostAddress"),
      (err: Error) => {
        assert.ok(err instanceof HostAddressError);
        assert.match(err.message, /^env\.hostAddress: no address where the containers reach this process \(host\.k3sbox\.internal\)/);
        assert.match(err.message, new RegExp(`the Docker daemon is remote \\(${t.kind}:`));
        assert.match(err.message, /K3SBOX_HOST_ADDRESS/);
        assert.match(err.message, new RegExp(`Topology: ${t.kind} — `));
        return true;
      },
    );
  }
});

test("host address: K3SBOX_HOST_ADDRESS / { hostAddress } overrides; a non-IP is refused naming its source", () => {
  const t = decideTopology({ dockerHost: "tcp://10.0.0.2:2375" });
  const d = decideHostAddress(t, { override: { address: "10.8.0.4", source: "K3SBOX_HOST_ADDRESS" } });
  assert.equal(d.ok && d.address, "10.8.0.4");
  const bad = decideHostAddress(t, { override: { address: "my-laptop", source: "K3SBOX_HOST_ADDRESS" } });
  assert.equal(bad.ok, false);
  assert.throws(() => hostAddressOf(bad, t, "env.hostAddress"), /K3SBOX_HOST_ADDRESS: "my-laptop" is not an IP address/);
  assert.throws(() => validateEnvironmentOptions({ services: { web: { image: { type: "registry", reference: "busybox" } } }, hostAddress: "0.0.0.0.0" }), (e: Error) => e instanceof EnvironmentOptionError && e.option === "hostAddress");
});

test("host address: K3SBOX_HOST with a local socket keeps the gateway; with a remote endpoint there is none", () => {
  const local = decideTopology({ override: { dial: "192.168.1.10", source: "K3SBOX_HOST" } });
  assert.equal(decideHostAddress(local, { gateway: "172.22.0.1" }).ok, true);
  const remote = decideTopology({ dockerHost: "tcp://10.0.0.2:2375", override: { dial: "10.0.0.2", source: "K3SBOX_HOST" } });
  const d = decideHostAddress(remote, { gateway: "172.22.0.1" });
  assert.equal(d.ok, false);
  assert.match(!d.ok ? d.reason : "", /not on this machine's socket/);
});

test("host address: --add-host values are checked before Docker sees them", async () => {
  await assert.rejects(
    createContainer({ name: "x", image: "busybox", addHosts: ["host.k3sbox.internal:1.2.3.4 --privileged"] }),
    (e: Error) => e instanceof DockerArgumentError && /extra host/.test(e.message),
  );
});

test("NodeHosts: the test process's line is added once, next to peers and k3s's own line", () => {
  const entries = nodeHostsEntries([{ key: "db", host: "db.internal", ip: "172.30.0.5" }], "172.30.0.1");
  const once = mergeNodeHosts("172.30.0.2 node-1\n", entries);
  assert.equal(once, "172.30.0.2 node-1\n172.30.0.5 db.internal db\n172.30.0.1 host.k3sbox.internal\n");
  assert.equal(mergeNodeHosts(once, entries), once);
  assert.deepEqual(nodeHostsEntries([], undefined), []);
});

// ---------------------------------------------------------------------------
// AdmissionReview / ConversionReview

const review = (request: Record<string, unknown>) => ({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", request });
const cmRequest = {
  uid: "u-1",
  kind: { group: "", version: "v1", kind: "ConfigMap" },
  resource: { group: "", version: "v1", resource: "configmaps" },
  operation: "CREATE",
  namespace: "ns",
  name: "cm",
  userInfo: { username: "admin" },
  object: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "cm" }, data: { forbidden: "x" } },
};

test("admission: a denial carries the handler's message and a 403; the uid is echoed", async () => {
  const r = await handleAdmission("validating", "v.example.test", (req) => ({ allowed: !("forbidden" in (req.object?.data ?? {})), message: "no forbidden keys" }), review(cmRequest));
  assert.deepEqual(r.review, {
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    response: { uid: "u-1", allowed: false, status: { message: "no forbidden keys", code: 403, reason: "Forbidden" } },
  });
});

test("admission: a mutating patch goes out as base64 JSONPatch", async () => {
  const patch = [{ op: "add" as const, path: "/metadata/labels", value: { a: "b" } }];
  const r = await handleAdmission("mutating", "m.example.test", () => ({ allowed: true, patch, warnings: ["careful"] }), review(cmRequest));
  const response = r.review.response as Record<string, unknown>;
  assert.equal(response.patchType, "JSONPatch");
  assert.deepEqual(JSON.parse(Buffer.from(response.patch as string, "base64").toString()), patch);
  assert.deepEqual(response.warnings, ["careful"]);
  assert.equal(response.allowed, true);
});

test("admission: a handler that throws, returns nothing, or patches from a validating webhook denies, naming the webhook", async () => {
  const threw = await handleAdmission("validating", "v.example.test", () => {
    throw new Error("boom");
  }, review(cmRequest));
  assert.match(JSON.stringify(threw.review), /validating webhook v\.example\.test: the handler threw: boom/);
  assert.equal(threw.decision.allowed, false);
  // deno-lint-ignore no-explicit-any
  assert.match(checkDecision("mutating", "m.example.test", undefined as any).message!, /must return \{ allowed: boolean/);
  assert.match(checkDecision("validating", "v.example.test", { allowed: true, patch: [] }).message!, /only mutating webhooks may patch/);
  assert.match(checkDecision("mutating", "m.example.test", { allowed: true, patch: [{ path: "/x" }] }).message!, /JSON Patch operations/);
  assert.match(checkDecision("validating", "v.example.test", { allowed: false, code: 200 }).message!, /HTTP error code 400-599/);
});

test("admission: a body that is not an AdmissionReview v1 is refused as a WebhookRequestError", () => {
  assert.throws(() => parseAdmissionReview({ apiVersion: "admission.k8s.io/v1beta1", kind: "AdmissionReview", request: cmRequest }), WebhookRequestError);
  assert.throws(() => parseAdmissionReview(review({})), /without a request/);
  assert.throws(() => parseAdmissionReview("x"), /got string/);
});

test("conversion: each object converted, apiVersion filled in; a wrong apiVersion or a throw is a Failure naming the CRD", async () => {
  const body = {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "ConversionReview",
    request: { uid: "c-1", desiredAPIVersion: "ex.test/v2", objects: [{ apiVersion: "ex.test/v1", kind: "W", metadata: { name: "a" }, spec: { color: "red" } }] },
  };
  const ok = await handleConversion("ws.ex.test", (o) => ({ kind: o.kind, metadata: o.metadata, spec: { colour: o.spec.color } }), body);
  assert.deepEqual(ok.review, {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "ConversionReview",
    response: { uid: "c-1", result: { status: "Success" }, convertedObjects: [{ apiVersion: "ex.test/v2", kind: "W", metadata: { name: "a" }, spec: { colour: "red" } }] },
  });
  const wrong = await handleConversion("ws.ex.test", same, body);
  assert.equal(wrong.failure, 'k3sbox: conversion webhook of ws.ex.test: the handler returned apiVersion "ex.test/v1" for a; expected ex.test/v2');
  assert.deepEqual((wrong.review.response as Record<string, unknown>).result, { status: "Failure", message: wrong.failure });
  const threw = await handleConversion("ws.ex.test", () => {
    throw new Error("nope");
  }, body);
  assert.match(threw.failure!, /ws\.ex\.test: nope/);
});

// ---------------------------------------------------------------------------
// configurations: built from handlers, rewritten from manifests

test("config: handlers become one configuration per type, each webhook's url/caBundle here, a probe webhook first", () => {
  const plan = planFromHandlers({
    validating: [{ name: "v.example.test", rules: [{ operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["configmaps"] }], handler: allow }],
    conversion: [{ crd: "ws.ex.test", convert: same }],
  }, "k3sbox-wh-1", BASE, CA);
  assert.equal(plan.admission.length, 1);
  const cfg = plan.admission[0].object;
  assert.equal(cfg.kind, "ValidatingWebhookConfiguration");
  assert.equal(cfg.metadata?.name, "k3sbox-wh-1-validating");
  const [probe, hook] = cfg.webhooks;
  assert.equal(probe.clientConfig.url, `${BASE}${PROBE_PATH_PREFIX}k3sbox-wh-1-validating`);
  assert.deepEqual(probe.objectSelector, { matchLabels: { [PROBE_LABEL]: "k3sbox-wh-1-validating" } });
  assert.deepEqual(hook.clientConfig, { url: `${BASE}/validating/v.example.test`, caBundle: Buffer.from(CA).toString("base64") });
  assert.equal(hook.failurePolicy, "Fail");
  assert.equal(hook.sideEffects, "None");
  assert.deepEqual(hook.admissionReviewVersions, ["v1"]);
  assert.equal(plan.routes.get("/validating/v.example.test")?.type, "validating");
  assert.deepEqual(plan.conversions[0].conversion, {
    strategy: "Webhook",
    webhook: { clientConfig: { url: `${BASE}/conversion/ws.ex.test`, caBundle: Buffer.from(CA).toString("base64") }, conversionReviewVersions: ["v1"] },
  });
});

test("config: existing configurations get service clientConfig replaced by url + caBundle, path kept; CRDs too", () => {
  const manifest = `
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: { name: mutating-webhook-configuration }
webhooks:
- name: mpod.kb.io
  clientConfig: { service: { name: webhook-service, namespace: system, path: /mutate-v1-pod } }
  rules: [{ operations: [CREATE], apiGroups: [""], apiVersions: [v1], resources: [pods] }]
  sideEffects: None
  admissionReviewVersions: [v1]
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: ws.ex.test }
spec:
  group: ex.test
  conversion:
    strategy: Webhook
    webhook:
      clientConfig: { service: { name: webhook-service, namespace: system, path: /convert } }
      conversionReviewVersions: [v1]
`;
  const plan = rewriteConfigurations(manifest, { admission: { "/mutate-v1-pod": allow }, conversion: { "/convert": same } }, BASE, CA, "p");
  const cfg = plan.admission[0].object;
  assert.equal(cfg.webhooks.length, 2, "the probe is added");
  assert.deepEqual(cfg.webhooks[1].clientConfig, { url: `${BASE}/mutate-v1-pod`, caBundle: Buffer.from(CA).toString("base64") });
  assert.equal(cfg.webhooks[1].clientConfig.service, undefined);
  assert.equal(plan.admission[0].probeId, "p-c0");
  assert.equal(plan.routes.get("/mutate-v1-pod")?.type, "mutating");
  assert.equal(plan.conversions[0].crd, "ws.ex.test");
  assert.deepEqual(plan.conversions[0].object?.spec.conversion.webhook.clientConfig, { url: `${BASE}/convert`, caBundle: Buffer.from(CA).toString("base64") });
  assert.equal(plan.routes.get("/convert")?.type, "conversion");
  // A webhook whose path has no handler is named.
  assert.throws(() => rewriteConfigurations(manifest, { conversion: { "/convert": same } }, BASE, CA, "p"), /handlers\["\/mutate-v1-pod"\] must be a handler for mutating webhook mpod\.kb\.io/);
  // Other kinds are refused.
  assert.throws(() => rewriteConfigurations({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x" } }, {}, BASE, CA, "p"), /a ValidatingWebhookConfiguration, MutatingWebhookConfiguration or CustomResourceDefinition/);
  // The same path from handlers and from configurations clashes, naming it.
  const fromHandlers = planFromHandlers({ conversion: [{ crd: "ws.ex.test", convert: same }] }, "k", BASE, CA);
  const clashing = rewriteConfigurations(manifest.replace("path: /convert", "path: /conversion/ws.ex.test"), { admission: { "/mutate-v1-pod": allow }, conversion: { "/conversion/ws.ex.test": same } }, BASE, CA, "p");
  assert.throws(() => mergePlans(fromHandlers, clashing), /handlers\["\/conversion\/ws\.ex\.test"\] must be a path no webhook given with a handler uses as well/);
});

test("options: each malformed option is named with its allowed form", () => {
  const rule = { operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["configmaps"] };
  const cases: [unknown, string, RegExp][] = [
    [undefined, "options", /an object/],
    [{}, "options", /at least one of validating, mutating, conversion or configurations/],
    [{ validatng: [] }, "validatng", /known fields/],
    [{ validating: [{ name: "short.name", rules: [rule], handler: allow }] }, "validating[0].name", /at least three labels/],
    [{ validating: [{ name: "a.b.c", rules: [], handler: allow }] }, "validating[0].rules", /non-empty array/],
    [{ validating: [{ name: "a.b.c", rules: [{ ...rule, resources: "configmaps" }], handler: allow }] }, "validating[0].rules[0].resources", /non-empty array of strings/],
    [{ mutating: [{ name: "a.b.c", rules: [rule] }] }, "mutating[0].handler", /a function/],
    [{ mutating: [{ name: "a.b.c", rules: [rule], handler: allow, timeoutSeconds: 60 }] }, "mutating[0].timeoutSeconds", /1 to 30/],
    [{ validating: [{ name: "a.b.c", rules: [rule], handler: allow, reinvocationPolicy: "IfNeeded" }] }, "validating[0].reinvocationPolicy", /not reinvoked/],
    [{ validating: [{ name: "a.b.c", rules: [rule], handler: allow }, { name: "a.b.c", rules: [rule], handler: allow }] }, "validating[1].name", /unique/],
    [{ conversion: [{ crd: "Widgets", convert: allow }] }, "conversion[0].crd", /CustomResourceDefinition name/],
    [{ conversion: [{ crd: "ws.ex.test" }] }, "conversion[0].convert", /a function/],
    [{ configurations: [] }, "handlers", /given with `configurations`/],
    [{ configurations: [], handlers: { "x": allow } }, 'handlers["x"]', /starting with "\/"/],
    [{ configurations: [], converters: { "/c": 1 } }, 'converters["/c"]', /a function/],
    [{ validating: [{ name: "a.b.c", rules: [rule], handler: allow }], handlers: { "/x": allow } }, "handlers", /left out unless `configurations`/],
    [{ conversion: [{ crd: "ws.ex.test", convert: allow }], port: 70000 }, "port", /0 \(a free port\) to 65535/],
    [{ conversion: [{ crd: "ws.ex.test", convert: allow }], timeoutMs: -1 }, "timeoutMs", /positive number of milliseconds/],
  ];
  for (const [opts, option, allowed] of cases) {
    assert.throws(() => validateWebhookOptions(opts), (e: Error) => {
      assert.ok(e instanceof WebhookOptionError, `${option}: ${e}`);
      assert.equal(e.option, option);
      assert.match(e.message, new RegExp(`^webhooks\\(\\): ${option.replace(/[[\]().]/g, "\\$&")} must be `));
      assert.match(e.message, allowed);
      return true;
    });
  }
  validateWebhookOptions({ validating: [{ name: "a.b.c", rules: [rule], handler: allow }] });
});

test("timeline: a webhook call reads `webhook <type> <name> ← <what> <verdict> <ms>`", () => {
  const r = new Recorder();
  const seq = r.begin("POST", `${BASE}/validating/v.example.test`);
  r.annotateWebhook(seq, { type: "validating", webhook: "v.example.test", about: "CREATE configmaps · ns/cm", verdict: "denied: no" });
  r.end(seq, { status: 200 });
  assert.match(r.timeline(), /^webhook validating v\.example\.test ← CREATE configmaps · ns\/cm denied: no \d+ms$/);
  const e = r.events()[0];
  assert.equal(e.kind, "webhook");
  assert.equal(describeEvent({ ...e, durationMs: 3 }), "webhook validating v.example.test ← CREATE configmaps · ns/cm denied: no 3ms");
});
