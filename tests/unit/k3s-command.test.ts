import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "../harness.ts";
import { k3sServerArgs, k3sStartupScript, RESOLV_CONF_PATH } from "../../lib/k3s/command.ts";
import { shellQuote } from "../../lib/shell-quote.ts";
import { resolveK3sOptions } from "../../lib/k3s/options.ts";
import { run } from "../../lib/exec.ts";

const HOSTILE = [
  "--tls-san=$(touch CANARY)",
  "--tls-san=`touch CANARY`",
  "--x='; touch CANARY; echo '",
  '--x="; touch CANARY; "',
  "--x=a b\tc\nd",
  "--x=$HOME ${PATH} \\ * ? [a] ~ ! # &;|<>",
  "--x=' '' '''",
];

test("k3s command: server flags of the reference, then TLS SANs, then extraArgs", () => {
  const args = k3sServerArgs(resolveK3sOptions({ extraArgs: ["--disable=local-storage"] }));
  assert.deepEqual(args.slice(0, 2), ["k3s", "server"]);
  for (const f of [
    `--resolv-conf=${RESOLV_CONF_PATH}`, "--disable=metrics-server", "--disable=traefik", "--disable=servicelb",
    "--cluster-cidr=10.44.0.0/16", "--service-cidr=10.45.0.0/16", "--cluster-dns=10.45.0.10",
    "--flannel-backend=host-gw", "--write-kubeconfig-mode=644", "--kube-proxy-arg=proxy-mode=nftables",
    "--tls-san=127.0.0.1", "--tls-san={{SERVICE}}.internal",
  ]) assert.ok(args.includes(f), f);
  assert.equal(args.at(-1), "--disable=local-storage");
});

test("shellQuote: a real /bin/sh reads back every hostile word unchanged", async () => {
  const words = [...HOSTILE, "plain", "", "--a=b,c:d/e.f@g%h+i"];
  const script = `printf '%s\\0' ${words.map(shellQuote).join(" ")}`;
  const r = await run("/bin/sh", ["-c", script]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.split("\0").slice(0, -1), words);
});

test("k3s startup script: hostile extraArgs reach k3s as single argv entries and run nothing", async () => {
  const dir = mkdtempSync(join(tmpdir(), "k3sbox-cmd-"));
  try {
    // A fake `k3s` that prints its argv; the wrapper execs it.
    writeFileSync(join(dir, "k3s"), `#!/bin/sh\nfor a in "$@"; do printf '%s\\0' "$a"; done\n`);
    chmodSync(join(dir, "k3s"), 0o755);
    const opts = resolveK3sOptions({ extraArgs: HOSTILE });
    // Point the resolv.conf write into the temp dir so the test touches nothing global.
    const script = k3sStartupScript(opts).replaceAll(RESOLV_CONF_PATH, join(dir, "resolv.conf"));
    const r = await run("/bin/sh", ["-c", script], { cwd: dir, env: { PATH: `${dir}:/usr/bin:/bin:/usr/sbin:/sbin` } });
    assert.equal(r.code, 0, r.stderr);
    const argv = r.stdout.split("\0").slice(0, -1);
    assert.deepEqual(argv.slice(-HOSTILE.length), HOSTILE);
    assert.equal(argv[0], "server");
    assert.ok(!existsSync(join(dir, "CANARY")), "a hostile value executed a command");
    assert.ok(existsSync(join(dir, "resolv.conf")), "the wrapper writes the resolv.conf before exec");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
