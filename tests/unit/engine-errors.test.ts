import assert from "node:assert/strict";
import { test } from "../harness.ts";
import { RLIMIT_REFUSED, rlimitAdvice } from "../../lib/docker.ts";

const PODMAN = "Error response from daemon: runc: runc create failed: unable to start container process: error during container init: " +
  "error setting rlimits for ready process: error setting rlimit type 7: operation not permitted: OCI permission denied\n";

test("engine errors: runc refusing Podman's rlimits names the limit and the setting to change", () => {
  assert.ok(RLIMIT_REFUSED.test(PODMAN));
  const advice = rlimitAdvice(PODMAN);
  assert.match(advice, /rlimit \(nofile\) above this host's hard limit/);
  assert.match(advice, /default_ulimits in \/etc\/containers\/containers\.conf/);
  assert.match(rlimitAdvice(PODMAN.replace("type 7", "type 6")), /\(nproc\)/);
  assert.ok(!RLIMIT_REFUSED.test("Error response from daemon: unable to apply caps: operation not permitted"));
});
