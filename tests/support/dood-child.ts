// Runs inside a socket-mounted container (dood.ts): starts a busybox web
// service, fetches it through env.fetch, stops, and prints one JSON line
// with what it saw (or the error's message).
import { docker } from "../../lib/docker.ts";
import { startEnvironment } from "../../lib/runner/environment.ts";
import { SESSION_ID } from "../../lib/runner/labels.ts";
import { BUSYBOX_IMAGE } from "./images.ts";

const t0 = Date.now();
try {
  const env = await startEnvironment({
    services: {
      web: {
        image: { type: "registry", reference: BUSYBOX_IMAGE },
        command: "mkdir -p /www && echo hello-from-{{SERVICE}} > /www/index.html && exec httpd -f -p 8080 -h /www",
        ports: [8080],
        readyCheck: { type: "http", port: 8080, path: "/", timeoutSecs: 30 },
      },
    },
  });
  let fetched = "";
  let bindings: string[] = [];
  try {
    fetched = (await (await env.fetch("http://web:8080/")).text()).trim();
    bindings = (await docker(["port", env.services.web.containerId])).trim().split("\n");
  } finally {
    await env.stop();
  }
  console.log(JSON.stringify({ ok: true, id: env.id, session: SESSION_ID, kind: env.topology.kind, host: env.services.web.host, ip: env.services.web.ip, fetched, bindings, ms: Date.now() - t0 }));
} catch (err) {
  console.log(JSON.stringify({ ok: false, name: (err as Error).name, message: (err as Error).message, ms: Date.now() - t0 }));
}
