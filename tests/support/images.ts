// Test images built locally from the host's static busybox: nothing is ever
// pulled, so the Docker tier runs on hosts without registry access.

import { copyFile, mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { docker, imageExists } from "../../lib/docker.ts";

export const BUSYBOX_IMAGE = "k3sbox-test-busybox:1";
const HOST_BUSYBOX = "/bin/busybox";

const DOCKERFILE = `FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox --install -s /bin && mkdir -p /tmp /etc /root && chmod 1777 /tmp"]
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LABEL k3sbox.test-image=busybox
CMD ["sh"]
`;

let pending: Promise<string> | undefined;

/**
 * Returns the tag of a busybox image (sh, httpd, nc, sleep, …), building it
 * first when missing. Safe to call from many tests and many processes at
 * once: calls in one process share one build, and processes take turns
 * through a lock directory, so only one builds and none leaves a dangling
 * image behind.
 */
export function ensureBusyboxImage(): Promise<string> {
  if (!pending) {
    pending = buildBusybox();
    pending.catch(() => (pending = undefined));
  }
  return pending;
}

const LOCK_STALE_MS = 5 * 60_000;

/**
 * Makes sure `image` is in the current daemon, running `make` to put it
 * there when it is not. Processes take turns through a lock directory, so
 * only one runs `make` and the others wait for its result; a lock older than
 * 5 minutes is taken to be a dead holder's.
 */
export async function ensureImageOnce(image: string, lockName: string, make: () => Promise<void>): Promise<void> {
  const lock = join(tmpdir(), `k3sbox-test-${lockName}.lock`);
  const deadline = Date.now() + 2 * LOCK_STALE_MS;
  while (!(await imageExists(image))) {
    try {
      await mkdir(lock); // atomic: exactly one process gets it
    } catch (err) {
      if ((err as { code?: string }).code !== "EEXIST") throw err;
      const age = await stat(lock).then((s) => Date.now() - s.mtimeMs, () => 0);
      if (age > LOCK_STALE_MS) await rm(lock, { recursive: true, force: true }); // its holder died
      if (Date.now() > deadline) throw new Error(`timed out waiting for another process to make ${image} (lock ${lock})`);
      await new Promise((r) => setTimeout(r, 250));
      continue;
    }
    try {
      if (!(await imageExists(image))) await make();
    } finally {
      await rm(lock, { recursive: true, force: true });
    }
  }
}

async function buildBusybox(): Promise<string> {
  await ensureImageOnce(BUSYBOX_IMAGE, "busybox-build", build);
  return BUSYBOX_IMAGE;
}

async function build(): Promise<void> {
  try {
    if (!(await stat(HOST_BUSYBOX)).isFile()) throw new Error("not a file");
  } catch {
    throw new Error(
      `${HOST_BUSYBOX} is missing: the test image ${BUSYBOX_IMAGE} is built from the host's static busybox; ` +
        "install it with `apt-get install busybox-static`",
    );
  }
  const context = await mkdtemp(join(tmpdir(), "k3sbox-busybox-"));
  try {
    await copyFile(HOST_BUSYBOX, join(context, "busybox"));
    await writeFile(join(context, "Dockerfile"), DOCKERFILE);
    await docker(["build", "--quiet", "--force-rm", "--tag", BUSYBOX_IMAGE, context], { timeoutMs: 300_000 });
  } finally {
    await rm(context, { recursive: true, force: true });
  }
}
