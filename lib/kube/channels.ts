// The API server's channel protocols over WebSocket (pure, no I/O).
//
// Every binary message starts with one byte naming its channel:
//   exec (v4/v5.channel.k8s.io): 0 stdin, 1 stdout, 2 stderr, 3 error (a
//     metav1.Status as JSON once the command ended), 4 resize; v5 adds 255
//     "close": [255, n] says the client will send no more on channel n —
//     how stdin's end reaches the process (v4 cannot say it).
//   port-forward (v4.channel.k8s.io): for each requested port i, channel 2i
//     carries data and 2i+1 errors; the first message on each channel is
//     the port number (2 bytes, little-endian), not data.

export const EXEC_PROTOCOLS = ["v5.channel.k8s.io", "v4.channel.k8s.io"] as const;
export const PORT_FORWARD_PROTOCOL = "v4.channel.k8s.io";

export const CHANNEL = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4, close: 255 } as const;

/** A message for `channel`: its number, then the data. */
export function channelMessage(channel: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(data.length + 1);
  out[0] = channel;
  out.set(data, 1);
  return out;
}

/** v5's "no more data on `channel`" message. */
export function closeChannelMessage(channel: number): Uint8Array {
  return Uint8Array.of(CHANNEL.close, channel);
}

/** Splits a received message into its channel and data. */
export function parseChannelMessage(msg: Uint8Array): { channel: number; data: Uint8Array } {
  if (msg.length === 0) throw new Error("empty channel message (no channel byte)");
  return { channel: msg[0], data: msg.subarray(1) };
}

/** The outcome of an exec from its error-channel Status: the exit code, or why the command did not run. */
export type ExecStatus = { exitCode: number } | { failure: string };

/**
 * Reads the Status the API server sends on channel 3 when the command ends:
 * Success → exit 0; NonZeroExitCode → the code from details.causes
 * (reason "ExitCode"); any other Failure (no such executable, no such
 * container, …) → its message.
 */
export function parseExecStatus(text: string): ExecStatus {
  let s: { status?: string; reason?: string; message?: string; details?: { causes?: { reason?: string; message?: string }[] } };
  try {
    s = JSON.parse(text);
  } catch {
    return { failure: text.trim() || "empty status" };
  }
  if (s.status === "Success") return { exitCode: 0 };
  if (s.reason === "NonZeroExitCode") {
    const cause = s.details?.causes?.find((c) => c.reason === "ExitCode");
    const code = Number(cause?.message);
    if (Number.isInteger(code)) return { exitCode: code };
  }
  return { failure: [s.reason, s.message].filter(Boolean).join(": ") || text.trim() };
}

/** The port number a port-forward channel opens with (2 bytes, little-endian). */
export function parsePortPrefix(data: Uint8Array): number {
  if (data.length < 2) throw new Error(`port-forward channel opened with ${data.length} byte(s), expected the 2-byte port number`);
  return data[0] | (data[1] << 8);
}

/** exec's query string: each argv element as its own `command` parameter. */
export function execQuery(argv: readonly string[], opts: { container?: string; stdin: boolean }): string {
  const q = new URLSearchParams();
  for (const a of argv) q.append("command", a);
  if (opts.container) q.set("container", opts.container);
  q.set("stdout", "true");
  q.set("stderr", "true");
  if (opts.stdin) q.set("stdin", "true");
  return q.toString();
}
