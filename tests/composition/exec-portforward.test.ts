// exec() and portForward() through the real API server and kubelet (the
// node image: kube-apiserver and kubelet from k8s.io/kubernetes v1.35,
// containerd's CRI streaming server), under Bun, Deno and Node — the three
// runtimes where @kubernetes/client-node's WebSocket exec/port-forward hang
// (Bun) or cannot present a client certificate (Deno). One environment for
// every case; the workloads are busybox pods (the node's in-cluster busybox).

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createServer } from "node:net";
import { skip, suite } from "../harness.ts";
import { k3s, type K3sHelpers } from "../../lib/k3s/k3s.ts";
import { ExecError } from "../../lib/kube/exec.ts";
import type { KubeNamespace } from "../../lib/kube/client.ts";
import { PortForwardError } from "../../lib/kube/portforward.ts";
import { type Environment, startEnvironment } from "../../lib/runner/environment.ts";
import type { ServiceDefinition } from "../../lib/service.ts";
import { NO_IMAGE_REASON, TESTBED_IMAGE } from "../support/controlplane.ts";
import { leftovers } from "../support/leftovers.ts";
import { ECHO_PORT, echoPod, echoService, echoThrough, equalBytes, openEchoConnections, openSocket, pattern, shellPod } from "../support/streams.ts";

type Env = Environment<{ k8s: ServiceDefinition<K3sHelpers> }>;
const MB = 1024 * 1024;

if (!TESTBED_IMAGE) {
  skip("exec and port-forward on a real node", NO_IMAGE_REASON);
} else {
  suite("composition: exec and port-forward through the API server (real node: kube-apiserver, kubelet, containerd)", {
    setupTimeoutMs: 300_000,
    setup: async () => {
      const env: Env = await startEnvironment({
        services: { k8s: { ...k3s({ registry: false }), image: { type: "registry", reference: TESTBED_IMAGE! } } },
      });
      const k8s = env.svc.k8s;
      const ns: KubeNamespace = await k8s.namespace("stream");
      await ns.apply([shellPod("shell"), echoPod("echo-0", "echo"), echoService("echo", "echo"), echoPod("victim")]);
      await Promise.all(["shell", "echo-0", "victim"].map((p) => ns.waitFor(`pod/${p}`, "Ready", { timeoutMs: 120_000 })));
      // Never closed by the tests: the environment's stop must close it.
      const leftOpen = await ns.portForward("echo-0", ECHO_PORT);
      return { env, k8s, ns, leftOpen };
    },
    teardown: async ({ env, leftOpen }) => {
      await env.stop();
      assert.deepEqual(await leftovers(env.id), [], "stop() leaves no container or network");
      await assert.rejects(openSocket(leftOpen.localPort), /ECONNREFUSED/, "stop() closed the port-forward nobody closed");
    },
  }, (t) => {
    t("exec: stdout, stderr and the exit code come back apart; recorded as `exec pods · ns/name`", async ({ env, k8s, ns }) => {
      const r = await ns.exec("shell", ["sh", "-c", "echo out; echo err >&2; exit 3"]);
      assert.deepEqual(r, { stdout: "out\n", stderr: "err\n", exitCode: 3 });
      // The cluster helpers take the namespace as an option; a pod object works too.
      const ok = await k8s.exec({ metadata: { name: "shell", namespace: ns.name } }, ["true"]);
      assert.deepEqual(ok, { stdout: "", stderr: "", exitCode: 0 });
      assert.match(env.timeline(), new RegExp(`^exec pods · ${ns.name}/shell 101 \\d+ms$`, "m"));
    });

    t("exec: stdin is delivered and its end reaches the command", async ({ ns }) => {
      const r = await ns.exec("shell", ["sh", "-c", "cat; echo; echo done"], { stdin: "hello\nworld" });
      assert.deepEqual(r, { stdout: "hello\nworld\ndone\n", stderr: "", exitCode: 0 });
      const big = pattern(3 * MB, 5);
      const counted = await ns.exec("shell", ["wc", "-c"], { stdin: big });
      assert.equal(counted.stdout.trim(), String(big.length));
    });

    t("exec: 5 MB of stdout arrives intact", async ({ ns }) => {
      const line = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-+\n";
      const r = await ns.exec("shell", ["sh", "-c", `yes ${line.trimEnd()} | head -c ${5 * MB}`], { timeoutMs: 60_000 });
      assert.equal(r.exitCode, 0);
      assert.equal(r.stdout.length, 5 * MB);
      assert.ok(r.stdout === line.repeat(Math.ceil(5 * MB / line.length)).slice(0, 5 * MB), "every byte as the command wrote it");
    });

    t("exec: a command sleeping past timeoutMs is stopped at the deadline with an error saying so", async ({ ns }) => {
      const started = Date.now();
      // A plain 2 s timer beside it: on a loaded machine the runtime's own timers fire late, which is not exec's doing.
      let timerFired = 0;
      const reference = setTimeout(() => (timerFired = Date.now() - started), 2_000);
      const err = await ns.exec("shell", ["sh", "-c", "echo started; sleep 30"], { timeoutMs: 2_000 }).then(
        () => assert.fail("exec returned"),
        (e) => e,
      );
      const took = Date.now() - started;
      clearTimeout(reference);
      assert.ok(err instanceof ExecError, String(err));
      assert.match(err.message, /still running at the 2000 ms deadline/);
      assert.equal(err.stdout, "started\n", "what the command wrote before the deadline is kept");
      assert.ok(took >= 1_900, `stopped after ${took} ms, before the deadline`);
      assert.ok(took < Math.max(timerFired, 2_000) + 1_000, `stopped after ${took} ms; a plain 2 s timer fired after ${timerFired} ms`);
    });

    t("exec: a missing executable, container or pod is an ExecError naming it", async ({ ns }) => {
      await assert.rejects(ns.exec("shell", ["no-such-binary"]), (e: Error) => e instanceof ExecError && /no-such-binary/.test(e.message));
      await assert.rejects(ns.exec("shell", ["true"], { container: "nope" }), (e: Error) => e instanceof ExecError && /nope/.test(e.message));
      await assert.rejects(ns.exec("ghost", ["true"]), (e: Error) => e instanceof ExecError && /404.*ghost/.test(e.message));
    });

    t("port-forward to a pod: 20 concurrent connections, 10 MB each way, byte for byte", async ({ env, ns }) => {
      await using fwd = await ns.portForward("pod/echo-0", ECHO_PORT);
      const sent = Array.from({ length: 20 }, (_, i) => pattern(10 * MB, i + 1));
      const socks = await openEchoConnections(fwd.localPort, sent.length); // opened one by one, see there
      const back = await Promise.all(sent.map((d, i) => echoThrough(fwd.localPort, d, 120_000, Promise.resolve(socks[i])))).catch((err) => {
        throw new Error(`${err.message}; the forward says: ${fwd.lastError?.message ?? "nothing"}`, { cause: err });
      });
      for (let i = 0; i < sent.length; i++) assert.ok(equalBytes(back[i], sent[i]), `connection ${i}: the 10 MB came back intact`);
      assert.equal(fwd.lastError, undefined, `no connection failed: ${fwd.lastError?.message}`);
      assert.match(env.timeline(), new RegExp(`^portforward pods · ${ns.name}/echo-0 101 \\d+ms$`, "m"), "the API call (the tunnel's upgrade) is recorded");
    }, { timeoutMs: 240_000 });

    t("port-forward to a Service: resolved to its ready pod and named targetPort; 20 connections, 10 MB each way", async ({ ns }) => {
      await using fwd = await ns.portForward("service/echo", 80);
      assert.deepEqual(fwd.pod, { namespace: ns.name, name: "echo-0", port: ECHO_PORT });
      const sent = Array.from({ length: 20 }, (_, i) => pattern(10 * MB, 100 + i));
      const socks = await openEchoConnections(fwd.localPort, sent.length); // opened one by one, see there
      const back = await Promise.all(sent.map((d, i) => echoThrough(fwd.localPort, d, 120_000, Promise.resolve(socks[i])))).catch((err) => {
        throw new Error(`${err.message}; the forward says: ${fwd.lastError?.message ?? "nothing"}`, { cause: err });
      });
      for (let i = 0; i < sent.length; i++) assert.ok(equalBytes(back[i], sent[i]), `connection ${i}: the 10 MB came back intact`);
      await assert.rejects(ns.portForward("service/echo", 81), /service .*\/echo has no port 81 \(its ports: 80\)/);
    }, { timeoutMs: 240_000 });

    t("port-forward: a client's half-close reaches the pod (its cat ends), and the pod's end comes back", async ({ ns }) => {
      await using fwd = await ns.portForward("echo-0", ECHO_PORT);
      const sock = await openSocket(fwd.localPort);
      const chunks: Uint8Array[] = [];
      const ended = new Promise<void>((resolve, reject) => {
        sock.on("data", (c: Uint8Array) => chunks.push(c));
        sock.on("end", () => resolve());
        sock.on("error", reject);
      });
      sock.end("hello, then EOF\n");
      await ended;
      sock.destroy();
      assert.equal(Buffer.concat(chunks).toString(), "hello, then EOF\n");
      assert.equal(fwd.lastError, undefined);
    });

    t("port-forward, transport \"websocket\" (one v4.channel.k8s.io WebSocket per connection, the fallback): 5 connections, 2 MB each way", async ({ env, ns }) => {
      const calls = () => (env.timeline().match(new RegExp(`^portforward pods · ${ns.name}/echo-0 `, "gm")) ?? []).length;
      const before = calls();
      await using fwd = await ns.portForward("echo-0", ECHO_PORT, { transport: "websocket" });
      const sent = Array.from({ length: 5 }, (_, i) => pattern(2 * MB, 200 + i));
      const socks = await openEchoConnections(fwd.localPort, sent.length);
      const back = await Promise.all(sent.map((d, i) => echoThrough(fwd.localPort, d, 60_000, Promise.resolve(socks[i]))));
      for (let i = 0; i < sent.length; i++) assert.ok(equalBytes(back[i], sent[i]), `connection ${i}: the 2 MB came back intact`);
      assert.equal(fwd.lastError, undefined, `no connection failed: ${fwd.lastError?.message}`);
      // Each connection is its own API call here.
      assert.equal(calls() - before, 5, "a recorded call per connection");
    }, { timeoutMs: 120_000 });

    t("port-forward: the pod deleted mid-transfer ends the connection with an error within seconds, and the forward says why", async ({ k8s, ns }) => {
      const errors: PortForwardError[] = [];
      await using fwd = await ns.portForward("victim", ECHO_PORT, { onError: (e) => errors.push(e) });
      const sock = await openSocket(fwd.localPort);
      let received = 0;
      const ended = new Promise<{ error?: Error; at: number }>((resolve) => {
        sock.on("data", (c: Uint8Array) => (received += c.length));
        sock.on("error", (error) => resolve({ error, at: Date.now() }));
        sock.on("close", () => resolve({ at: Date.now() }));
      });
      // Keep sending until the connection ends.
      const chunk = pattern(64 * 1024, 9);
      const pump = () => {
        while (!sock.destroyed && sock.write(chunk));
        if (!sock.destroyed) sock.once("drain", pump);
      };
      pump();
      while (received < 2 * MB) await new Promise((r) => setTimeout(r, 20));
      const deletedAt = Date.now();
      await k8s.client.core.deleteNamespacedPod({ name: "victim", namespace: ns.name, gracePeriodSeconds: 0 });
      const end = await ended;
      sock.destroy();
      assert.ok(end.error, `the local connection ended with an error (it ended cleanly after ${end.at - deletedAt} ms)`);
      assert.ok(end.at - deletedAt < 10_000, `ended ${end.at - deletedAt} ms after the delete`);
      assert.ok(fwd.lastError instanceof PortForwardError, "the forward keeps the reason");
      assert.match(fwd.lastError!.message, new RegExp(`portforward pods · ${ns.name}/victim port ${ECHO_PORT}: `));
      assert.equal(errors.at(-1), fwd.lastError, "onError was called with it");
      console.error(`  after the delete: ${fwd.lastError!.message}`);
      // A new connection now fails at once, saying the pod is gone.
      const s2 = await openSocket(fwd.localPort);
      const e2 = await new Promise<Error | undefined>((resolve) => {
        s2.on("error", resolve);
        s2.on("close", () => resolve(undefined));
        s2.resume();
      });
      assert.ok(e2 || /victim/.test(fwd.lastError!.message), "a new connection ends");
      assert.match(fwd.lastError!.message, /victim/);
    }, { timeoutMs: 60_000 });

    t("port-forward: close() frees the local port and refuses new connections", async ({ ns }) => {
      const fwd = await ns.portForward("echo-0", ECHO_PORT);
      const port = fwd.localPort;
      const open = await openSocket(port); // an open connection must not keep the port
      const back = await echoThrough(port, pattern(1000, 3));
      assert.equal(back.length, 1000);
      await fwd.close();
      await assert.rejects(openSocket(port), /ECONNREFUSED/);
      const again = createServer();
      await new Promise<void>((resolve, reject) => again.once("error", reject).listen(port, "127.0.0.1", () => resolve()));
      await new Promise<void>((r) => again.close(() => r()));
      open.destroy();
      // And a port in use is refused up front, naming it.
      const holder = createServer();
      await new Promise<void>((r) => holder.listen(0, "127.0.0.1", () => r()));
      const busy = (holder.address() as { port: number }).port;
      await assert.rejects(ns.portForward("echo-0", ECHO_PORT, { localPort: busy }), new RegExp(`cannot listen on 127.0.0.1:${busy} \\(the port is in use\\)`));
      await new Promise<void>((r) => holder.close(() => r()));
    });
  });
}
