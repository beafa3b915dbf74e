// Workloads and a TCP echo client for the exec/port-forward tests and bench.
// The echo server is busybox `nc -ll -p <port> -e cat` in a pod: it forks
// one `cat` per connection, so connections are served side by side.

import { connect, type Socket } from "node:net";

/** The in-cluster busybox of the node image (real k3s pulls it for local-path's helper pods). */
export const NODE_BUSYBOX = "rancher/mirrored-library-busybox:1.36.1";
export const ECHO_PORT = 7007;

export function shellPod(name: string) {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, labels: { app: name } },
    spec: {
      terminationGracePeriodSeconds: 0,
      containers: [{ name: "main", image: NODE_BUSYBOX, imagePullPolicy: "IfNotPresent", command: ["sleep", "3600"] }],
    },
  };
}

export function echoPod(name: string, app = name) {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, labels: { app } },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [{
        name: "echo",
        image: NODE_BUSYBOX,
        imagePullPolicy: "IfNotPresent",
        command: ["nc", "-ll", "-p", String(ECHO_PORT), "-e", "cat"],
        ports: [{ name: "echo", containerPort: ECHO_PORT }],
        readinessProbe: { tcpSocket: { port: ECHO_PORT }, periodSeconds: 1 },
      }],
    },
  };
}

/** A Service whose port 80 targets the pods' named port "echo". */
export function echoService(name: string, app: string) {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name },
    spec: { selector: { app }, ports: [{ name: "tcp", port: 80, targetPort: "echo" }] },
  };
}

/** `n` bytes that differ per `seed`, so crossed connections would show. */
export function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export function openSocket(port: number, host = "127.0.0.1"): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host, noDelay: true });
    s.once("connect", () => {
      s.off("error", reject);
      resolve(s);
    });
    s.once("error", reject);
  });
}

/**
 * Sends `data` through an echo connection (with backpressure) while reading
 * until as many bytes came back; resolves with what came back. Rejects with
 * the socket's error, or if it ends early.
 */
export async function echoThrough(port: number, data: Uint8Array, timeoutMs = 120_000, connected?: Promise<Socket>): Promise<Uint8Array> {
  const sock = await (connected ?? openSocket(port));
  try {
    return await new Promise<Uint8Array>((resolve, reject) => {
      const got = new Uint8Array(data.length);
      let n = 0;
      const timer = setTimeout(() => reject(new Error(`echo: ${n} of ${data.length} bytes back after ${timeoutMs} ms`)), timeoutMs);
      sock.on("data", (chunk: Uint8Array) => {
        if (n + chunk.length > data.length) return reject(new Error(`echo: more bytes back than sent (${n + chunk.length} > ${data.length})`));
        got.set(chunk, n);
        n += chunk.length;
        if (n === data.length) {
          clearTimeout(timer);
          resolve(got);
        }
      });
      sock.on("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      sock.on("close", () => {
        clearTimeout(timer);
        reject(new Error(`echo: connection closed after ${n} of ${data.length} bytes`));
      });
      // Writes in 64 KiB pieces, waiting for "drain" when the socket's buffer is full.
      const CHUNK = 64 * 1024;
      let off = 0;
      const pump = () => {
        while (off < data.length) {
          const piece = data.subarray(off, off + CHUNK);
          off += piece.length;
          if (!sock.write(piece)) return void sock.once("drain", pump);
        }
      };
      pump();
    });
  } finally {
    sock.destroy();
  }
}

/**
 * Opens `n` connections one after another, each used (one byte echoed) before
 * the next: busybox nc listens with a backlog of 2 (`-ll`), so a burst of
 * connects to it can be reset by the pod's kernel. The transfers on them
 * then run side by side.
 */
export async function openEchoConnections(port: number, n: number): Promise<Socket[]> {
  const out: Socket[] = [];
  for (let i = 0; i < n; i++) {
    const s = await openSocket(port);
    await new Promise<void>((resolve, reject) => {
      s.once("data", (c: Uint8Array) => (c.length === 1 ? resolve() : reject(new Error(`echo: ${c.length} bytes back for 1`))));
      s.once("error", reject);
      s.write(Uint8Array.of(42));
    });
    out.push(s);
  }
  return out;
}

/**
 * `conns` connections × `bytes` each way at once through an echo port
 * (checked byte for byte); MB/s, both directions counted. The data is made
 * before the clock starts.
 */
export async function echoThroughput(port: number, conns: number, bytes: number): Promise<number> {
  const data = Array.from({ length: conns }, (_, i) => pattern(bytes, i + 1));
  const t0 = performance.now();
  const socks = await openEchoConnections(port, conns);
  const back = await Promise.all(data.map((d, i) => echoThrough(port, d, 120_000, Promise.resolve(socks[i]))));
  const secs = (performance.now() - t0) / 1000;
  back.forEach((b, i) => {
    if (!equalBytes(b, data[i])) throw new Error(`throughput: connection ${i} came back different`);
  });
  return (2 * conns * bytes) / (1024 * 1024) / secs;
}

export const equalBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.compare(a, b) === 0;
