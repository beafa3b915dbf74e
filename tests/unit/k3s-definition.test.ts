import assert from "node:assert/strict";
import { test } from "../harness.ts";
import { parseYaml, parseAllDocuments } from "../../deps.ts";
import { k3s } from "../../lib/k3s/k3s.ts";
import { buildRegistriesYaml } from "../../lib/k3s/registries.ts";
import { registryManifest, traefikManifest, TRAEFIK_DYNAMIC_TLS } from "../../lib/k3s/manifests.ts";
import { ApplyError, parseManifest } from "../../lib/kube/manifest.ts";
import { SELF_SERVICE_TOKEN } from "../../lib/service.ts";

const docs = (yaml: string) => parseAllDocuments(yaml).map((d) => d.toJS());

test("k3s(): definition shape of the reference (image, privileged, tmpfs, cgroupns, ports, readiness)", () => {
  const def = k3s();
  assert.equal(def.image.reference, "rancher/k3s:v1.32.1-k3s1");
  assert.equal(def.privileged, true);
  assert.deepEqual(def.tmpfs, ["/run", "/var/run"]);
  assert.equal(def.cgroupns, "host");
  assert.deepEqual(def.ports, [80, 443, 6443, 5000]);
  assert.deepEqual(k3s({ registry: false }).ports, [80, 443, 6443]);
  assert.deepEqual(def.readyCheck, { type: "exec", command: "kubectl get --raw=/readyz >/dev/null 2>&1", timeoutSecs: 120 });
  assert.equal(k3s({ readyTimeoutSecs: 30 }).readyCheck?.timeoutSecs, 30);
  assert.equal(typeof def.command, "string");
  assert.match(def.command as string, /exec k3s server /);
  assert.equal(def.dnsNames, undefined);
});

test("k3s(): ingressDomains become *.<domain> names owned by the service itself", () => {
  const def = k3s({ ingressDomains: ["example.test", "b.test"] });
  assert.deepEqual(def.dnsNames, [
    { kind: "dnsName", host: "*.example.test", service: SELF_SERVICE_TOKEN },
    { kind: "dnsName", host: "*.b.test", service: SELF_SERVICE_TOKEN },
  ]);
});

test("k3s(): bad options throw before any definition exists", () => {
  assert.throws(() => k3s({ readyTimeoutSecs: -1 }), /readyTimeoutSecs/);
});

test("k3s(): registries.yaml is written only when there is something to configure", () => {
  const files = k3s().files as (h: { dockerHubMirrors: string[] }) => { path: string; content: string }[];
  const [f] = files({ dockerHubMirrors: [] });
  assert.equal(f.path, "/etc/rancher/k3s/registries.yaml");
  assert.deepEqual((k3s({ registry: false }).files as typeof files)({ dockerHubMirrors: [] }), []);
});

test("registries.yaml: in-cluster registry trust and Docker Hub mirrors with fallback", () => {
  const y = parseYaml(buildRegistriesYaml({ registry: true, dockerHubMirrors: ["http://10.0.0.1:5000"] })!);
  assert.deepEqual(y.mirrors["docker.io"].endpoint, ["http://10.0.0.1:5000", "https://registry-1.docker.io"]);
  assert.deepEqual(y.mirrors[`${SELF_SERVICE_TOKEN}.internal:5000`].endpoint, ["http://127.0.0.1:5000"]);
  assert.equal(y.configs["127.0.0.1:5000"].tls.insecure_skip_verify, true);
  const noReg = parseYaml(buildRegistriesYaml({ registry: false, dockerHubMirrors: ["https://m.example"] })!);
  assert.equal(noReg.configs, undefined);
  assert.equal(buildRegistriesYaml({ registry: false, dockerHubMirrors: [] }), null);
});

test("registries.yaml: a hostile mirror URL stays one YAML string", () => {
  const evil = 'http://x"\n  "evil.io":\n    endpoint: ["http://attacker"]';
  const y = parseYaml(buildRegistriesYaml({ registry: false, dockerHubMirrors: [evil] })!);
  assert.deepEqual(Object.keys(y.mirrors), ["docker.io"]);
  assert.equal(y.mirrors["docker.io"].endpoint[0], evil);
});

test("Traefik manifest: hostNetwork, RBAC, default IngressClass; TLS adds :443, file provider and mounts", () => {
  const plain = docs(traefikManifest(false));
  assert.deepEqual(plain.map((d) => d.kind), ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "IngressClass", "Deployment"]);
  const dep = plain[4];
  assert.equal(dep.spec.template.spec.hostNetwork, true);
  assert.equal(dep.metadata.namespace, "kube-system");
  assert.equal(plain[3].metadata.annotations["ingressclass.kubernetes.io/is-default-class"], "true");
  assert.ok(!dep.spec.template.spec.containers[0].args.some((a: string) => a.includes("websecure")));
  assert.equal(dep.spec.template.spec.volumes, undefined);

  const tls = docs(traefikManifest(true))[4].spec.template.spec;
  const args: string[] = tls.containers[0].args;
  assert.ok(args.includes("--entrypoints.websecure.address=:443"));
  assert.ok(args.includes("--entrypoints.websecure.http.tls=true"));
  assert.ok(args.includes("--providers.file.directory=/dynamic"));
  assert.deepEqual(tls.containers[0].ports.map((p: { containerPort: number }) => p.containerPort), [80, 443]);
  assert.deepEqual(tls.volumes.map((v: { name: string }) => v.name), ["default-cert", "dynamic"]);
  assert.equal(tls.volumes[0].secret.secretName, "traefik-default-tls");
});

test("Traefik dynamic config points the default TLS store at the mounted leaf", () => {
  assert.deepEqual(parseYaml(TRAEFIK_DYNAMIC_TLS).tls.stores.default.defaultCertificate, { certFile: "/certs/tls.crt", keyFile: "/certs/tls.key" });
});

test("registry manifest: hostNetwork registry:2 on :5000 with emptyDir storage", () => {
  const [dep] = docs(registryManifest());
  const spec = dep.spec.template.spec;
  assert.equal(spec.hostNetwork, true);
  assert.equal(spec.containers[0].image, "registry:2");
  assert.deepEqual(spec.containers[0].env[0], { name: "REGISTRY_HTTP_ADDR", value: ":5000" });
  assert.deepEqual(spec.volumes, [{ name: "data", emptyDir: {} }]);
});

test("parseManifest: skips empty documents and numbers the rest from 1", () => {
  const out = parseManifest("---\n# only a comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: b}\n");
  assert.deepEqual(out.map((d) => [d.index, d.object.kind]), [[2, "ConfigMap"], [4, "Secret"]]);
});

test("parseManifest: names the failing document and why", () => {
  assert.throws(() => parseManifest("apiVersion: v1\nkind: A\nmetadata: {name: a}\n---\nkind: B\nmetadata: {name: b}\n"), (e: unknown) => {
    assert.ok(e instanceof ApplyError);
    assert.equal(e.documentIndex, 2);
    assert.match(e.message, /document 2 \(B b\): missing apiVersion or kind/);
    return true;
  });
  assert.throws(() => parseManifest("a: [1, 2\n"), /document 1 \(unparsable YAML\)/);
  assert.throws(() => parseManifest("- 1\n- 2\n"), /document 1 \(not an object\)/);
});
