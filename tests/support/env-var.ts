// Runs a body with one environment variable set (DOCKER_HOST, K3SBOX_HOST, …)
// and restores it afterwards, whatever the body does. Every docker CLI call
// k3sbox makes reads process.env at the call, so this points a test's calls at
// another daemon or address.

export async function withEnvVar<T>(name: string, value: string, fn: () => Promise<T>): Promise<T> {
  const before = process.env[name];
  process.env[name] = value;
  try {
    return await fn();
  } finally {
    if (before === undefined) delete process.env[name];
    else process.env[name] = before;
  }
}
