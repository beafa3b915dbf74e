// A child for the kill-cycle test: starts an environment (ready check, a
// helper carrying a kubeconfig, exported so the private directory is used, a setup
// hook that takes a moment), writes the kubeconfig, then stops it and exits.
// Prints each phase as it begins ("PHASE <name>") so the test can tell which
// moment its signal hit.
import { loadKubernetesClient } from "../../deps.ts";
import { startEnvironment } from "../../lib/runner/environment.ts";
import { BUSYBOX_IMAGE } from "./images.ts";

const say = (line: string) => console.log(line);
// Loaded when the helpers are made, as k3s() loads it: cycles that end earlier never pay for it.
const stubKubeconfig = async () => {
  const kc = new (await loadKubernetesClient()).KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "default", server: "https://127.0.0.1:1", skipTLSVerify: false }],
    users: [{ name: "default", token: "stub" }],
    contexts: [{ name: "default", cluster: "default", user: "default" }],
    currentContext: "default",
  });
  return kc;
};

const env = await startEnvironment({
  onProgress: (m) => say(`PHASE ${m}`),
  services: {
    box: {
      image: { type: "registry", reference: BUSYBOX_IMAGE },
      command: "touch /ready; exec sleep 600",
      readyCheck: { type: "exec", command: "test -f /ready", timeoutSecs: 30 },
      helpers: async () => ({ kubeconfig: await stubKubeconfig() }),
      exportKubeconfig: (h) => h.kubeconfig.exportConfig(),
      setup: () => new Promise((r) => setTimeout(r, 300)),
    },
  },
});
await env.kubeconfigPath("box");
say(`PHASE started ${env.id}`);
await new Promise((r) => setTimeout(r, 300));
say("PHASE stopping");
await env.stop();
say("PHASE done");
