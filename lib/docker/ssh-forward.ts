// Published ports of a daemon reached over ssh:// (docker/topology.ts):
// Docker publishes them on the remote host's 127.0.0.1 only, and one `ssh`
// per environment forwards each to a port on 127.0.0.1 here. Nothing is
// published on the remote network.
//
// The ssh client is the system's, with the user's ssh configuration (keys,
// known hosts), as the docker CLI itself uses for ssh:// (BatchMode: it
// never prompts). It runs `cat` on the remote end with its stdin tied to
// this process: when this process dies, however it dies, the pipe closes,
// the remote `cat` ends and so do the session and its forwards.

import { spawnProcess } from "../exec.ts";
import { createServer } from "node:net";
import { tcpConnect } from "./topology.ts";

export class SshForwardError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SshForwardError";
  }
}

export interface SshForward {
  /** Remote (daemon host's 127.0.0.1) port → local port on 127.0.0.1. */
  ports: Record<number, number>;
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (bound then released; ssh binds it right after). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** `user@host:port` → ssh argv pieces (`-p port`, `user@host`). */
export function sshDestinationArgs(dest: string): string[] {
  const m = /^(?:([^@\s]+)@)?(\[[^\]]+\]|[^:@\s]+)(?::(\d+))?$/.exec(dest);
  if (!m) throw new SshForwardError(`ssh destination ${JSON.stringify(dest)} is not user@host[:port]`);
  const [, user, host, port] = m;
  if (host.startsWith("-") || user?.startsWith("-")) throw new SshForwardError(`ssh destination ${JSON.stringify(dest)} may not start with "-"`);
  return [...(port ? ["-p", port] : []), "--", `${user ? `${user}@` : ""}${host.replace(/^\[|\]$/g, "")}`];
}

/** Forwards each of `remotePorts` (on the remote 127.0.0.1); resolves once every local port accepts connections. */
export async function startSshForward(dest: string, remotePorts: number[], timeoutMs = 20_000): Promise<SshForward> {
  const ports: Record<number, number> = {};
  for (const p of remotePorts) ports[p] = await freePort();
  const forwards = remotePorts.flatMap((p) => ["-L", `127.0.0.1:${ports[p]}:127.0.0.1:${p}`]);
  const args = ["-T", "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes", "-o", "ServerAliveInterval=15", ...forwards, ...sshDestinationArgs(dest), "cat"];
  const ssh = await spawnProcess("ssh", args, { stdin: "pipe", stdout: "ignore", stderr: "pipe" });
  let stderr = "";
  const decoder = new TextDecoder();
  (async () => {
    const reader = ssh.stderr!.getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) stderr = (stderr + decoder.decode(r.value)).slice(-2000);
  })().catch(() => {});
  let exited: number | undefined;
  const exit = ssh.exited.then((code) => void (exited = code), (e) => void ((exited = -1), (stderr += String(e))));
  const stop = async () => {
    if (exited === undefined) {
      await ssh.stdin!.close().catch(() => {}); // the remote cat ends, and with it the session
      ssh.kill("SIGTERM");
      await Promise.race([exit, new Promise((r) => setTimeout(r, 5_000))]);
      if (exited === undefined) {
        ssh.kill("SIGKILL"); // a busy machine: do not leave it behind
        await Promise.race([exit, new Promise((r) => setTimeout(r, 2_000))]);
      }
    }
  };
  const deadline = Date.now() + timeoutMs;
  for (const p of remotePorts) {
    while (true) {
      if (exited !== undefined) throw new SshForwardError(`ssh ${dest} (forwarding ports ${remotePorts.join(", ")}) exited with ${exited}: ${stderr.trim() || "no output"}`);
      if ((await tcpConnect("127.0.0.1", ports[p], 500)).outcome === "open") break;
      if (Date.now() > deadline) {
        await stop();
        throw new SshForwardError(`ssh ${dest}: the forward of port ${p} did not open within ${timeoutMs / 1000} s: ${stderr.trim() || "no output"}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return { ports, stop };
}
