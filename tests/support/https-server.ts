// A one-route HTTPS server in its own process, for tests where two servers
// must not share TLS session state (in one Deno process they do, and a client
// may then resume a session across them without a new certificate check).
// Config comes as JSON in HTTPS_SERVER; prints "LISTENING <port>".
import { createServer } from "node:https";

const cfg = JSON.parse(process.env.HTTPS_SERVER ?? "{}") as { key: string; cert: string; ca: string; status: number; port: number };
const server = createServer({ key: cfg.key, cert: cfg.cert, ca: cfg.ca, requestCert: true, rejectUnauthorized: true }, (req, res) => {
  res.writeHead(req.url === "/readyz" ? cfg.status : 404).end(cfg.status === 200 ? "ok" : "not ready");
});
server.listen(cfg.port, "127.0.0.1", () => console.log(`LISTENING ${(server.address() as { port: number }).port}`));
