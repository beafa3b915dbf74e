// Not a test of its own: tests/docker/reuse.test.ts runs it as a separate
// process. It starts (or attaches to) a reuse environment of one busybox
// service whose setup appends a line to /setup-count, prints
// {"id", "timings", "setups"} and stops (which keeps a reuse environment).
// K3SBOX_CHILD_VARIANT changes the definition; K3SBOX_CHILD_HOLD=1 stays
// attached until killed.
import { startEnvironment } from "../../lib/runner/environment.ts";
import { BUSYBOX_IMAGE } from "./images.ts";

const variant = process.env.K3SBOX_CHILD_VARIANT ?? "a";
const env = await startEnvironment({
  reuse: process.env.K3SBOX_REUSE ? undefined : true, // K3SBOX_REUSE=1 is the other way in
  services: {
    idle: {
      image: { type: "registry", reference: BUSYBOX_IMAGE },
      command: `echo variant ${variant}; exec sleep 3600`,
      readyCheck: { type: "exec", command: "true", timeoutSecs: 20 },
      setup: async (ctx) => void (await ctx.exec(["sh", "-c", "echo x >> /setup-count"])),
      helpers: (ctx) => ({ exec: ctx.exec }),
    },
  },
});
const setups = (await env.svc.idle.exec(["sh", "-c", "wc -l < /setup-count"])).stdout.trim();
console.log(JSON.stringify({ id: env.id, timings: env.timings, setups: Number(setups) }));
// A timer keeps the process alive: Node exits on a bare never-settling promise.
if (process.env.K3SBOX_CHILD_HOLD === "1") await new Promise(() => setInterval(() => {}, 1 << 30));
await env.stop();
