// An API-server stand-in in its own process (node:https requiring a client
// certificate), for deadline tests: SIGSTOP freezes it the way `docker
// pause` freezes a real API server (the kernel still accepts connections;
// nothing answers). It serves apps/v1 discovery and one Deployment, "web",
// that never finishes rolling out, and enough of namespaces for namespace();
// every answer waits DELAY_MS first. A watch of pods in "default" sends one
// ADDED event, then nothing until its timeoutSeconds, when it ends; /version
// answers (a watch's liveness check).
// Config as JSON in APISERVER_STANDIN; prints "LISTENING <port>".
import { createServer } from "node:https";

const cfg = JSON.parse(process.env.APISERVER_STANDIN ?? "{}") as { key: string; cert: string; ca: string; delayMs?: number };
const json = (res: import("node:http").ServerResponse, status: number, body: unknown) =>
  setTimeout(() => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body)), cfg.delayMs ?? 0);

const server = createServer({ key: cfg.key, cert: cfg.cert, ca: cfg.ca, requestCert: true, rejectUnauthorized: true }, (req, res) => {
  const path = (req.url ?? "/").split("?")[0];
  const query = new URLSearchParams((req.url ?? "").split("?")[1] ?? "");
  if (path === "/version") return json(res, 200, { major: "1", minor: "35", gitVersion: "v1.35.0-standin" });
  if (path === "/api/v1/namespaces/default/pods" && query.get("watch") === "true") {
    res.writeHead(200, { "content-type": "application/json" });
    res.write(JSON.stringify({ type: "ADDED", object: { kind: "Pod", apiVersion: "v1", metadata: { name: "web-0", namespace: "default" } } }) + "\n");
    const end = setTimeout(() => res.end(), Number(query.get("timeoutSeconds") ?? 60) * 1000);
    res.on("close", () => clearTimeout(end));
    return;
  }
  if (path === "/apis/apps/v1") {
    return json(res, 200, {
      kind: "APIResourceList",
      groupVersion: "apps/v1",
      resources: [{ name: "deployments", singularName: "deployment", namespaced: true, kind: "Deployment", verbs: ["get", "list"] }],
    });
  }
  if (path === "/apis/apps/v1/namespaces/default/deployments/web") {
    return json(res, 200, {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web", namespace: "default", generation: 2 },
      spec: { replicas: 1, selector: { matchLabels: { app: "web" } } },
      status: { observedGeneration: 1, replicas: 1, updatedReplicas: 0 },
    });
  }
  if (path === "/api/v1/nodes") return json(res, 200, { kind: "NodeList", apiVersion: "v1", items: [] });
  // Enough of namespaces for namespace(): create one, find its default ServiceAccount, delete it.
  if (path === "/api/v1/namespaces" && req.method === "POST") {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => json(res, 201, { apiVersion: "v1", kind: "Namespace", ...JSON.parse(body || "{}") }));
    return;
  }
  const sa = /^\/api\/v1\/namespaces\/([^/]+)\/serviceaccounts\/default$/.exec(path);
  if (sa) return json(res, 200, { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "default", namespace: sa[1] } });
  if (/^\/api\/v1\/namespaces\/[^/]+$/.test(path) && req.method === "DELETE") return json(res, 200, { kind: "Status", status: "Success" });
  json(res, 404, { kind: "Status", status: "Failure", reason: "NotFound", code: 404, message: `${path} not found` });
});
server.listen(0, "127.0.0.1", () => console.log(`LISTENING ${(server.address() as { port: number }).port}`));
