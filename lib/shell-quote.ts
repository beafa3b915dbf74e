// POSIX shell quoting for the few scripts k3sbox hands to a container's sh:
// every value that reaches a shell goes through it.

/** POSIX shell quoting; plain words are left bare for readability. */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
