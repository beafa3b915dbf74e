// The throughput client of bench/streams.ts in a process of its own: sends
// `conns` × `bytes` through an echo port and prints the MB/s (both ways).
//   <runtime> bench/streams-echo-client.ts <port> <conns> <bytes>
import { echoThroughput } from "../tests/support/streams.ts";

const [port, conns, bytes] = process.argv.slice(2).map(Number);
if (!port || !conns || !bytes) throw new Error("usage: streams-echo-client.ts <port> <conns> <bytes>");
console.log((await echoThroughput(port, conns, bytes)).toFixed(1));
