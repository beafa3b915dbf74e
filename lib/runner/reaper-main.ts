// Entry of the crash watchdog process started by reaper.ts:
//   <runtime> reaper-main.(ts|js) --reap <session> <parent pid>
// A file of its own so no runtime needs `import.meta.main` (Node 22 lacks it).

import { watch } from "./reaper.ts";

const [flag, session, parent] = process.argv.slice(2);
if (flag === "--reap" && session && Number(parent) > 0) await watch(session, Number(parent));
process.exit(0);
