// A static file server on 127.0.0.1 for the consumers tier's URL-import
// project: serves the checkout so Deno imports http://127.0.0.1:<port>/mod.ts
// like any remote module. Prints the port. `node serve.mjs <dir>`
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { join, normalize } from "node:path";

const root = process.argv[2];
const server = createServer(async (req, res) => {
  // normalize() of an absolute path cannot climb above "/", so join() stays under root.
  const path = normalize(decodeURIComponent(new URL(req.url ?? "/", "http://localhost").pathname));
  try {
    const body = await readFile(join(root, path));
    res.writeHead(200, { "content-type": path.endsWith(".ts") ? "application/typescript" : "application/octet-stream" });
    res.end(body);
  } catch {
    res.writeHead(404).end();
  }
});
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
