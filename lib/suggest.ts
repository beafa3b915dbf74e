// "Did you mean …?" for misspelled option names: a typo such as `readycheck`
// or `comand` must fail naming the field it was probably meant to be, not be
// ignored.

/** Edit distance (insertions, deletions, substitutions). */
function distance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0];
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const here = d[j];
      d[j] = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = here;
    }
  }
  return d[b.length];
}

/** The known name closest to `name` (case-insensitively), if any is close enough to be the one meant. */
export function closest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const dist = distance(name.toLowerCase(), k.toLowerCase());
    if (dist < bestD) [best, bestD] = [k, dist];
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(best.length / 3)) ? best : undefined;
}

/** ` — did you mean "x"?` or "". */
export const didYouMean = (name: string, known: readonly string[]): string => {
  const near = closest(name, known);
  return near ? ` — did you mean "${near}"?` : "";
};
