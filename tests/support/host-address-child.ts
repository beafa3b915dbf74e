// Runs where the test puts it (a socket-mounted container, dood.ts): starts a
// busybox service, serves HTTP on env.hostAddress, has the service GET
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
    // An HTTP GET with nc: the test image's busybox is static glibc, and its wget crashes (SIGSEGV) in the NSS lookup of "http".
    const get = `printf 'GET / HTTP/1.0\\r\\nHost: host.k3sbox.internal\\r\\n\\r\\n' | nc -w 5 host.k3sbox.internal ${port}`;
    const r = await execIn(env.services.client.containerId, ["sh", "-c", get]);
    const gateway = await networkGateway(env.network);
    console.log(JSON.stringify({ ok: true, id: env.id, kind: env.topology.kind, hostAddress, bound, gateway, fetched: r.stdout.split("\r\n\r\n").slice(1).join("\r\n\r\n"), head: r.stdout.split("\r\n")[0], stderr: r.stderr.trim(), code: r.code }));
  } finally {
    server.close();
    await env.stop();
  }
} catch (err) {
  console.log(JSON.stringify({ ok: false, name: (err as Error).name, message: (err as Error).message }));
}
