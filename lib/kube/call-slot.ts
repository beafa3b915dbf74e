// Which API call is in flight, per async context: the HTTP layer leaves the
// event it recorded here, so the call's result (tagging.ts) and its error
// (errors.ts) can point at that event on the timeline.

import { AsyncLocalStorage } from "node:async_hooks";
import type { KubeMeta } from "../recorder.ts";

/** Per-API-call scratch space: the last event the call produced. */
export interface CallSlot {
  seq?: number;
  meta?: KubeMeta | null;
  method?: string;
  url?: string;
}

export const callSlots = new AsyncLocalStorage<CallSlot>();
