// Runs where the test puts it (a socket-mounted container, dood.ts): starts a
// busybox service, serves HTTP on env.hostAddress, has the service fetch
// http://host.k3sbox.internal:<port>/, stops, and prints one JSON line with
// what it saw (or the error's message).
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { execIn, networkGateway } from "../../lib/docker.ts";
import { startEnvironment } from "../../lib/runner/environment.ts";
import { BUSYBOX_IMAGE } from "./images.ts";

try {
  const env = await startEnvironment({
    services: { client: { image: { type: "registry", reference: BUSYBOX_IMAGE }, command: "exec sleep 3600" } },
  });
  const server = createServer((_req, res) => res.end("hello-from-the-test-process"));
  try {
    const hostAddress = env.hostAddress;
    await new Promise<void>((resolve, reject) => server.once("error", reject).listen(0, hostAddress, () => resolve()));
    const { port, address: bound } = server.address() as AddressInfo;
    const r = await execIn(env.services.client.containerId, ["wget", "-qO-", "-T", "5", `http://host.k3sbox.internal:${port}/`]);
    const gateway = await networkGateway(env.network);
    console.log(JSON.stringify({ ok: true, id: env.id, kind: env.topology.kind, hostAddress, bound, gateway, fetched: r.stdout.trim(), stderr: r.stderr.trim() }));
  } finally {
    server.close();
    await env.stop();
  }
} catch (err) {
  console.log(JSON.stringify({ ok: false, name: (err as Error).name, message: (err as Error).message }));
}
