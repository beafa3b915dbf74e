// Starts the API-server stand-in (apiserver-standin.ts) in its own process
// and builds k3sbox's Kubernetes helpers against it; SIGSTOP on `child`
// freezes it as `docker pause` freezes a real API server.

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { stringifyYaml } from "../../deps.ts";
import { createKubeHelpers, type KubeHelpers, loadKubeconfig } from "../../lib/kube/client.ts";
import { generateCa, issueLeaf } from "../../lib/pki.ts";
import { Recorder } from "../../lib/recorder.ts";
import { scriptArgv } from "./script.ts";

const b64 = (s: string) => Buffer.from(s).toString("base64");

export interface StandIn {
  child: ChildProcess;
  helpers(opts?: { requestTimeoutMs?: number; fault?: () => Promise<string | undefined> }): Promise<KubeHelpers & { recorder: Recorder }>;
  close(): Promise<void>;
}

export async function standIn(delayMs = 0): Promise<StandIn> {
  const ca = await generateCa();
  const serving = await issueLeaf(ca, { names: ["127.0.0.1"] });
  const client = await issueLeaf(ca, { names: [], commonName: "admin", usages: ["client"] });
  const [cmd, ...args] = scriptArgv(new URL("./apiserver-standin.ts", import.meta.url).pathname);
  const child = spawn(cmd, args, {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, APISERVER_STANDIN: JSON.stringify({ key: serving.keyPem, cert: serving.certPem, ca: ca.certPem, delayMs }) },
  });
  const exited = new Promise((r) => child.on("exit", r));
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (c) => {
      out += c;
      const m = /LISTENING (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    exited.then(() => reject(new Error("the stand-in exited before listening")));
  });
  const yaml = stringifyYaml({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "default", cluster: { server: `https://127.0.0.1:${port}`, "certificate-authority-data": b64(ca.certPem) } }],
    users: [{ name: "default", user: { "client-certificate-data": b64(client.certPem), "client-key-data": b64(client.keyPem) } }],
    contexts: [{ name: "default", context: { cluster: "default", user: "default" } }],
    "current-context": "default",
  });
  const opened: KubeHelpers[] = [];
  return {
    child,
    helpers: async (opts = {}) => {
      const recorder = new Recorder();
      const h = await createKubeHelpers(await loadKubeconfig(yaml), { recorder, ...opts });
      opened.push(h);
      return Object.assign(h, { recorder });
    },
    close: async () => {
      child.kill("SIGCONT");
      child.kill("SIGKILL");
      // Deno's child_process misses the exit of a child that was once stopped: do not wait for it forever.
      await Promise.race([exited, new Promise((r) => setTimeout(r, 1_000))]);
      for (const h of opened) await h.close().catch(() => {});
    },
  };
}

/** Runs `fn`, expecting a rejection; returns it and how long it took. */
export async function timedFailure(fn: () => Promise<unknown>): Promise<{ err: Error; ms: number }> {
  const t0 = performance.now();
  const err = await fn().then(() => assert.fail("must reject"), (e: unknown) => e as Error);
  return { err, ms: performance.now() - t0 };
}
