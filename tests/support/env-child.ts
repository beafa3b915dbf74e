// A child process that starts an environment and waits, used to test
// cleanup on SIGINT (and leftovers after SIGKILL, for prune).
// Prints "READY <envId>" once started.
import { startEnvironment } from "../../lib/runner/environment.ts";
import { BUSYBOX_IMAGE } from "./images.ts";

const env = await startEnvironment({
  services: { idle: { image: { type: "registry", reference: BUSYBOX_IMAGE }, command: "sleep 3600" } },
});
console.log(`READY ${env.id}`);
setInterval(() => {}, 1 << 30);
