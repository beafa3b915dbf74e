// Which environments `k3sbox down` removes. Pure, so the rule is tested
// without touching environments other people have on a shared daemon.

export interface DownCandidate {
  id: string;
  /** A running process owns it (not detached, and its process is alive, or on another host). */
  owned: boolean;
}

/**
 * `ids` (or, with `all`, every listed environment), minus those a running
 * process owns unless `force`: those are `spared`.
 */
export function planDown(listed: DownCandidate[], ids: string[], opts: { all?: boolean; force?: boolean }): { remove: string[]; spared: string[] } {
  const owned = new Set(listed.filter((e) => e.owned).map((e) => e.id));
  const targets = opts.all ? listed.map((e) => e.id) : [...new Set(ids)];
  const spared = opts.force ? [] : targets.filter((id) => owned.has(id));
  return { remove: targets.filter((id) => !spared.includes(id)), spared };
}
