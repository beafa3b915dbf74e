// Crash watchdogs (lib/runner/reaper.ts) of test processes that used a
// daemon the tests start and remove themselves (DinD, Podman, rootless
// Docker). Once that daemon and everything on it are gone, they have nothing
// left to remove, but each would keep retrying the vanished daemon for its
// 10-minute outage allowance after the test run ended.
import { readdir, readFile } from "node:fs/promises";

/** Ends every watchdog whose DOCKER_HOST matches `dockerHost`. */
export async function endWatchdogsOf(dockerHost: (value: string) => boolean): Promise<void> {
  for (const pid of (await readdir("/proc").catch(() => [] as string[])).filter((d) => /^\d+$/.test(d))) {
    const argv = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    if (!argv.includes("reaper-main")) continue;
    const env = (await readFile(`/proc/${pid}/environ`, "utf8").catch(() => "")).split("\0");
    const host = env.find((e) => e.startsWith("DOCKER_HOST="))?.slice("DOCKER_HOST=".length);
    if (host !== undefined && dockerHost(host)) {
      try {
        process.kill(Number(pid), "SIGTERM");
      } catch { /* already gone */ }
    }
  }
}
