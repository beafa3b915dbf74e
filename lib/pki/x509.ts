// The certificate library and WebCrypto, shared by the modules of lib/pki/.
// @peculiar/x509 loads on the first certificate operation (see deps.ts): the
// exported async functions of lib/pki/ await ready() before any helper uses
// `x509`, which is a live binding, set once ready() has run.

import { loadX509, type X509Module } from "../../deps.ts";

export let x509 = undefined as unknown as X509Module;
export async function ready(): Promise<void> {
  x509 ??= await loadX509();
}

export const webcrypto: Crypto = globalThis.crypto;
