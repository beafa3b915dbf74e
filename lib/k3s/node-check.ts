// A privileged k3s service must get a real node. A k3s-compatible image
// that cannot run one (the k3sbox node image without writable cgroups, or
// when it cannot tell it runs in a container) falls back to a fake node
// (kwok), and says so in its log: "no real node: <why>; kwok fakes the node
// and its pods". Asked for a privileged node, that is an error, named with
// its reason, not a cluster whose pods never really run.

import { logsTail } from "../docker.ts";

export class FakeNodeError extends Error {
  constructor(readonly service: string, readonly reason: string) {
    super(
      `service "${service}": the node image fell back to a fake node (kwok) although the container is privileged: ${reason}. ` +
        `Pods would never really run. Run it where its node can start (see \`k3sbox doctor\`), or ask for the fake node explicitly (privileged: false / --unprivileged).`,
    );
    this.name = "FakeNodeError";
  }
}

/** The reason a node image's log gives for its fake node, if it has one (pure). */
export function fakeNodeReason(log: string): string | undefined {
  return /no real node: (.*?); kwok fakes the node/.exec(log)?.[1];
}

/** Throws FakeNodeError when a privileged service's node image chose the fake node. */
export async function refuseFakeNode(service: string, container: string, privileged: boolean): Promise<void> {
  if (!privileged) return;
  const log = await logsTail(container, 400).catch(() => "");
  const reason = fakeNodeReason(log);
  if (reason !== undefined) throw new FakeNodeError(service, reason);
}
