// A suite fixture with a private K3SBOX_STATE_DIR (and the busybox test
// image): what the suite's environments write stays out of the user's state
// directory and is removed with the suite.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureBusyboxImage } from "./images.ts";

export function busyboxWithOwnStateDir(prefix: string) {
  return {
    setup: async () => {
      await ensureBusyboxImage();
      const stateDir = await mkdtemp(join(tmpdir(), `k3sbox-${prefix}-`));
      process.env.K3SBOX_STATE_DIR = stateDir;
      return { stateDir };
    },
    teardown: async ({ stateDir }: { stateDir: string }) => {
      delete process.env.K3SBOX_STATE_DIR;
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}
