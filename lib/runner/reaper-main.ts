// Entry of the crash watchdog process started by reaper.ts:
//   <runtime> reaper-main.(ts|js) --reap <session> <parent pid>
// A file of its own so no runtime needs `import.meta.main` (Node 22 lacks it).

import { watch, watchContainer } from "./reaper.ts";

const [flag, session, parent] = process.argv.slice(2);
if (flag === "--reap" && session && Number(parent) > 0) await watch(session, Number(parent));
//   <runtime> reaper-main.(ts|js) --reap-container <session> <container>: the sibling of a process in a container
if (flag === "--reap-container" && session && /^[0-9a-f]{12,64}$/.test(parent ?? "")) await watchContainer(session, parent);
process.exit(0);
