// On/off environment variables (K3SBOX_REUSE, K3SBOX_REAPER, K3SBOX_SWEEP): a value that
// is neither on nor off is an error naming the variable and what it
// accepts, never silently taken as "off" (K3SBOX_REAPER=off used to leave
// the watchdog on).

export class EnvVarError extends Error {
  constructor(readonly variable: string, value: string) {
    super(`${variable} must be 1 or 0 (also accepted: true/false, yes/no, on/off; empty means unset); got ${JSON.stringify(value)}`);
    this.name = "EnvVarError";
  }
}

const ON = ["1", "true", "yes", "on"];
const OFF = ["0", "false", "no", "off"];

/** The variable as a boolean: `fallback` when unset or empty; throws EnvVarError for anything else. */
export function envFlag(variable: string, fallback: boolean, env: Record<string, string | undefined> = process.env): boolean {
  const raw = env[variable];
  if (raw === undefined || raw.trim() === "") return fallback;
  const v = raw.trim().toLowerCase();
  if (ON.includes(v)) return true;
  if (OFF.includes(v)) return false;
  throw new EnvVarError(variable, raw);
}

/** Checks every on/off variable k3sbox reads, before anything is created. */
export function checkEnvFlags(env: Record<string, string | undefined> = process.env): void {
  envFlag("K3SBOX_REUSE", false, env);
  envFlag("K3SBOX_REAPER", true, env);
  envFlag("K3SBOX_SWEEP", true, env);
}
