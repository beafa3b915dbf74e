// Child of bench/import.ts: one cold dynamic import in a fresh process,
// timed from inside (runtime start-up excluded). Prints {"ms": …}.
const target = process.argv[2];
if (!target) throw new Error("usage: import-probe.ts <specifier>");
const t0 = performance.now();
await import(target);
console.log(JSON.stringify({ ms: performance.now() - t0 }));
process.exit(0);

export {}; // a module: top-level await
