// Host limits named from a container's log (lib/runner/host-limits.ts): the
// lines are real ones, as the node image's kubelet and containerd printed
// them when the Docker host's inotify instances were used up (see
// tests/composition/host-limits.alone.test.ts, which reproduces it), and as
// Go's fsnotify and Docker print the other limits.

import assert from "node:assert/strict";
import { test } from "../harness.ts";
import { hostLimitCause, inotifyAdvice, INOTIFY_RECOMMENDED } from "../../lib/runner/host-limits.ts";

const KUBELET_EMFILE = [
  'E1207 18:03:56.632974     105 plugins.go:580] "Error initializing dynamic plugin prober" err="error initializing watcher: too many open files"',
  'E1207 18:03:56.656344     105 manager.go:294] Registration of the raw container factory failed: inotify_init: too many open files',
  'E1207 18:03:56.656385     105 kubelet.go:1728] "Failed to start cAdvisor" err="inotify_init: too many open files"',
];

test("host limits: each of the kubelet's inotify failures alone names max_user_instances and the sysctl that raises it", () => {
  for (const line of KUBELET_EMFILE) {
    const cause = hostLimitCause(`I1207 18:03:56.1 started\n${line}\nI1207 18:03:57.0 more`);
    assert.ok(cause, line);
    assert.match(cause, /inotify instances are used up \(fs\.inotify\.max_user_instances/);
    assert.match(cause, /sudo sysctl -w fs\.inotify\.max_user_instances=512 fs\.inotify\.max_user_watches=524288/);
  }
  const certWatch = 'E1207 18:10:01.073547     141 dynamic_serving_content.go:144] "Failed to watch cert and key file, will retry later" err="error creating fsnotify watcher: too many open files"';
  assert.match(hostLimitCause(certWatch) ?? "", /max_user_instances/);
});

test("host limits: inotify watches used up (ENOSPC from inotify_add_watch) is named as max_user_watches, not as a full disk", () => {
  const cause = hostLimitCause('E1207 failed to watch "/var/lib/kubelet/pods": inotify_add_watch /var/lib/kubelet/pods: no space left on device');
  assert.match(cause ?? "", /inotify watches are used up \(fs\.inotify\.max_user_watches/);
  assert.doesNotMatch(cause ?? "", /disk is full/);
});

test("host limits: a full disk is named as one; 'too many open files' of a plain file descriptor limit is not taken for inotify", () => {
  assert.match(hostLimitCause("write /var/lib/rancher/k3s/data/x: no space left on device") ?? "", /disk is full/);
  assert.equal(hostLimitCause("accept tcp [::]:6443: accept4: too many open files"), undefined);
  assert.equal(hostLimitCause("I1207 k3s is up and running"), undefined);
  assert.equal(hostLimitCause(""), undefined);
});

test("host limits: doctor's advice names both limits and how many clusters they allow, and is silent at the recommended values", () => {
  const advice = inotifyAdvice({ maxUserInstances: 128, maxUserWatches: 192540 });
  assert.ok(advice);
  assert.match(advice, /max_user_instances is 128 and max_user_watches 192540/);
  assert.match(advice, /about 6 single-node clusters \(3 with two agents\)/);
  assert.equal(inotifyAdvice({ ...INOTIFY_RECOMMENDED }), undefined);
  assert.equal(inotifyAdvice({ maxUserInstances: 8192, maxUserWatches: 1048576 }), undefined);
  assert.ok(inotifyAdvice({ maxUserInstances: 8192, maxUserWatches: 8192 }), "low watches alone are advised on");
});
