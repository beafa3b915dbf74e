// The k3sbox CLI as a user runs it (a child process), against the real engine.
import assert from "node:assert/strict";
import { suite } from "../harness.ts";
import { dockerInfo } from "../../lib/docker.ts";
import { resolvePrivilege } from "../../lib/runner/privilege.ts";
import { BUSYBOX_IMAGE, ensureBusyboxImage } from "../support/images.ts";
import { k3sbox } from "../support/cli.ts";

suite("k3sbox CLI (real Docker engine)", { setup: async () => (await ensureBusyboxImage(), {}), teardown: async () => {} }, (t) => {
  t("--help lists the commands; each command has its own --help", async () => {
    const top = await k3sbox(["--help"]);
    assert.equal(top.code, 0);
    for (const c of ["up", "smoke", "down", "prune"]) assert.match(top.stdout, new RegExp(`^  ${c} `, "m"));
    for (const c of ["up", "smoke", "down", "prune"]) {
      const r = await k3sbox([c, "--help"]);
      assert.equal(r.code, 0, c);
      assert.match(r.stdout, new RegExp(`^k3sbox ${c}`), c);
      assert.match(r.stdout, /--json/);
    }
  });

  t("usage errors exit 2 and name the problem", async () => {
    const unknown = await k3sbox(["launch"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /k3sbox: unknown command "launch"/);
    const flag = await k3sbox(["up", "--ingress-domain", "Bad_Domain"]);
    assert.equal(flag.code, 1);
    assert.match(flag.stderr, /option "ingressDomains\[0\]" must be a lowercase DNS name/);
    const bad = await k3sbox(["prune", "--older-than", "soon"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--older-than must be a duration such as 90s, 15m, 2h or 1d; got "soon"/);
    const down = await k3sbox(["down"]);
    assert.equal(down.code, 2);
    assert.match(down.stderr, /give environment ids, or --all/);
  });

  t("smoke fails fast with the pull reason (and the privileged refusal only where even the capability fallback is refused)", async () => {
    const t0 = Date.now();
    const r = await k3sbox(["smoke", "--image", "k3sbox-test-absent:never"]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^smoke: FAIL$/m);
    assert.match(r.stderr, /image k3sbox-test-absent:never is not present locally and `docker pull` failed/);
    const privilege = await resolvePrivilege(BUSYBOX_IMAGE, (await dockerInfo()).id);
    if (privilege.ok) assert.doesNotMatch(r.stderr, /refuses privileged containers/);
    else assert.match(r.stderr, /this Docker host refuses privileged containers, which the service asks for:\n {2}--privileged: /);
    assert.ok(Date.now() - t0 < 60_000, "must not hang");
  });

  t("smoke --json prints one JSON report", async () => {
    const r = await k3sbox(["smoke", "--image", "k3sbox-test-absent:never", "--json"]);
    assert.equal(r.code, 1);
    const report = JSON.parse(r.stdout);
    assert.equal(report.ok, false);
    assert.match(report.error, /docker pull/);
    assert.ok(typeof report.phases["start cluster"] === "number");
  });

  t("prune --dry-run --json reports without removing", async () => {
    const r = await k3sbox(["prune", "--dry-run", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    assert.ok(Array.isArray(result.containers) && Array.isArray(result.networks) && Array.isArray(result.skippedLive));
  });
});
