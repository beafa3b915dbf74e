// What a start created so far (containers, network, waits, the private
// directory, disposers): stop() removes exactly this, once — whether the
// start failed, the caller stopped the environment, or a signal came.

import { removeContainers, removeNetworks, type WaitHandle } from "../docker.ts";
import { leaveNetwork } from "../docker/topology.ts";
import { untrackEnvironment } from "./signals.ts";
import { removeEnvironmentDir } from "./state-dir.ts";

export class Resources {
  containers: string[] = [];
  network?: string;
  /** Network mode: this process's container, connected to `network` (disconnected before it is removed). */
  joined?: string;
  waits: WaitHandle[] = [];
  /** The environment's private directory (state-dir.ts), created on first use (kubeconfigs); removed at stop. */
  dir?: Promise<string>;
  disposers: (() => void | Promise<void>)[] = [];
  /** A started reuse environment: stop() only releases this process's hold (disposers, waits). */
  keep = false;
  /** Aborted when stop() begins: waits and hooks still running give up. */
  readonly abort = new AbortController();
  /** Docker creates in flight: stop() lets them finish, so nothing appears after it removed everything. */
  readonly #creating = new Set<Promise<unknown>>();
  #stopped?: Promise<void>;

  constructor(readonly envId: string) {}

  get stopping(): boolean {
    return this.#stopped !== undefined;
  }

  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      this.abort.abort(new Error("k3sbox: the environment was stopped"));
      untrackEnvironment(this);
      // Promise.resolve().then: a disposer that throws synchronously must not skip the removal below.
      await Promise.allSettled(this.disposers.map((d) => Promise.resolve().then(d)));
      for (const w of this.waits) w.cancel();
      if (this.keep) return;
      // A `docker network create` still running when stop() removes the
      // network would create it afterwards (a Ctrl-C during the start). Each
      // docker command has its own deadline, so this wait is bounded.
      await Promise.allSettled([...this.#creating]);
      const errors: unknown[] = [];
      // The private directory first: the crash watchdog finds an environment
      // by its containers and network, so a process killed mid-stop must not
      // have removed those and left the directory (its kubeconfigs) behind.
      if (this.dir) await this.dir.then(() => removeEnvironmentDir(this.envId), () => {}).catch((e) => errors.push(e));
      await removeContainers(this.containers).catch((e) => errors.push(e));
      if (this.network && this.joined) await leaveNetwork(this.network, this.joined).catch((e) => errors.push(e));
      if (this.network) await removeNetworks([this.network]).catch((e) => errors.push(e));
      if (errors.length) throw new AggregateError(errors, `k3sbox: teardown incomplete: ${errors.map((e) => (e as Error).message).join("; ")}`);
    })();
    return this.#stopped;
  }

  /** Runs a Docker create that stop() must wait for (see stop). */
  creating<T>(create: Promise<T>): Promise<T> {
    this.#creating.add(create);
    const done = () => void this.#creating.delete(create);
    create.then(done, done);
    return create;
  }

  /** Fails a start that is racing a stop (e.g. Ctrl-C during boot). */
  checkNotStopping(): void {
    if (this.stopping) throw new Error("k3sbox: the environment was stopped while starting");
  }

  /** Records a container; one created after stop() began is removed at once. */
  async adoptContainer(id: string): Promise<void> {
    this.containers.push(id);
    if (this.stopping) {
      await removeContainers([id]).catch(() => {});
      this.checkNotStopping();
    }
  }
}
