// A stand-in for a Docker daemon that goes away: a Unix-socket relay to the
// real daemon's socket. Pointing DOCKER_HOST at it and closing it makes the
// daemon unreachable exactly as a stopped dockerd does, without stopping the
// daemon other test jobs share. (Interactive `docker exec` does not survive
// the relay's copying; use it for what does not exec.)

import { connect, createServer, type Server, type Socket } from "node:net";

export const DOCKER_SOCKET = "/var/run/docker.sock";

/** A relay from `path` to the real daemon's socket; close() cuts every connection, as a daemon that went away. */
export function relay(path: string): Promise<{ close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(DOCKER_SOCKET);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {});
    }
    client.pipe(upstream).pipe(client);
  });
  return new Promise((resolve, reject) => {
    server.on("error", reject);
    server.listen(path, () =>
      resolve({
        close: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      })
    );
  });
}
