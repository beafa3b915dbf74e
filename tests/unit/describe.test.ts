import assert from "node:assert/strict";
import { test } from "../harness.ts";
import { describeKubeRequest as d, isKubeDiscoveryPath } from "../../lib/kube/describe.ts";

const S = "https://127.0.0.1:6443";

test("describe: core group, namespaced list/get/create/update/patch/delete", () => {
  assert.deepEqual(d("GET", `${S}/api/v1/namespaces/default/pods`), { verb: "list", group: "", apiVersion: "v1", resource: "pods", name: undefined, subresource: undefined, namespace: "default" });
  assert.equal(d("GET", `${S}/api/v1/namespaces/default/pods/web`)?.verb, "get");
  assert.equal(d("POST", `${S}/api/v1/namespaces/default/pods`)?.verb, "create");
  assert.equal(d("PUT", `${S}/api/v1/namespaces/default/pods/web`)?.verb, "update");
  assert.equal(d("PATCH", `${S}/api/v1/namespaces/default/pods/web`)?.verb, "patch");
  assert.equal(d("DELETE", `${S}/api/v1/namespaces/default/pods/web`)?.verb, "delete");
  assert.equal(d("DELETE", `${S}/api/v1/namespaces/default/pods`)?.verb, "deletecollection");
  assert.equal(d("HEAD", `${S}/api/v1/nodes`)?.verb, "list");
});

test("describe: named groups, cluster scope, subresources", () => {
  assert.deepEqual(d("GET", `${S}/apis/apps/v1/namespaces/kube-system/deployments/traefik/status`), { verb: "get", group: "apps", apiVersion: "v1", resource: "deployments", name: "traefik", subresource: "status", namespace: "kube-system" });
  const crb = d("POST", `${S}/apis/rbac.authorization.k8s.io/v1/clusterrolebindings`);
  assert.equal(crb?.group, "rbac.authorization.k8s.io");
  assert.equal(crb?.namespace, undefined);
  assert.equal(d("GET", `${S}/api/v1/nodes/n1`)?.name, "n1");
  assert.deepEqual(d("GET", `${S}/api/v1/namespaces/default/pods/web/log?container=c`), { verb: "get", group: "", apiVersion: "v1", resource: "pods", name: "web", subresource: "log", namespace: "default" });
});

test("describe: Namespace objects themselves are cluster-scoped", () => {
  const ns = d("GET", `${S}/api/v1/namespaces/team-a`);
  assert.equal(ns?.resource, "namespaces");
  assert.equal(ns?.name, "team-a");
  assert.equal(ns?.namespace, undefined);
  const fin = d("PUT", `${S}/api/v1/namespaces/team-a/finalize`);
  assert.deepEqual([fin?.resource, fin?.name, fin?.subresource, fin?.namespace], ["namespaces", "team-a", "finalize", undefined]);
  assert.equal(d("GET", `${S}/api/v1/namespaces`)?.verb, "list");
});

test("describe: watch via ?watch=true, ?watch=1 and the legacy /watch/ path", () => {
  assert.equal(d("GET", `${S}/api/v1/namespaces/default/pods?watch=true`)?.verb, "watch");
  assert.equal(d("GET", `${S}/api/v1/pods?watch=1&labelSelector=a%3Db`)?.verb, "watch");
  assert.equal(d("GET", `${S}/api/v1/pods?watch=false`)?.verb, "list");
  const legacy = d("GET", `${S}/api/v1/watch/namespaces/default/pods`);
  assert.deepEqual([legacy?.verb, legacy?.namespace, legacy?.resource], ["watch", "default", "pods"]);
});

test("describe: non-resource and discovery paths give null; bare paths parse too", () => {
  for (const p of ["/version", "/healthz", "/openapi/v2", "/api", "/api/v1", "/apis", "/apis/apps", "/apis/apps/v1", "/"]) {
    assert.equal(d("GET", `${S}${p}`), null, p);
  }
  assert.equal(d("GET", "/api/v1/namespaces/x/configmaps?limit=1")?.resource, "configmaps");
  assert.equal(d("OPTIONS", `${S}/api/v1/nodes`)?.verb, "options");
});

test("discovery paths are recognised; resource and health paths are not", () => {
  for (const p of ["/api", "/api/v1", "/apis", "/apis/apps", "/apis/apps/v1"]) assert.ok(isKubeDiscoveryPath(`${S}${p}`), p);
  for (const p of ["/api/v1/pods", "/apis/apps/v1/deployments", "/healthz", "/version", "/openapi/v3"]) assert.ok(!isKubeDiscoveryPath(`${S}${p}`), p);
});
