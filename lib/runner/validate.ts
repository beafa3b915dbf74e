// Validation of startEnvironment's input, before Docker is touched. Each
// error names the service, the field and the allowed form.

import { SELF_SERVICE_TOKEN, type ServiceDefinition } from "../service.ts";

export class EnvironmentOptionError extends Error {
  constructor(where: string, allowed: string, got: unknown) {
    super(`startEnvironment: ${where} must be ${allowed}; got ${JSON.stringify(got) ?? String(got)}`);
    this.name = "EnvironmentOptionError";
  }
}

// A key becomes a DNS alias (`<key>`, `<key>.internal`) and part of a container name.
const SERVICE_KEY = /^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$/;

const isPort = (p: unknown) => Number.isInteger(p) && (p as number) >= 1 && (p as number) <= 65535;

export function validateServices(services: unknown): asserts services is Record<string, ServiceDefinition<unknown>> {
  if (!services || typeof services !== "object" || Array.isArray(services) || Object.keys(services).length === 0) {
    throw new EnvironmentOptionError("services", "a non-empty object such as { k8s: k3s() }", services);
  }
  const keys = Object.keys(services);
  for (const [key, def] of Object.entries(services as Record<string, ServiceDefinition<unknown>>)) {
    const at = (field: string) => `services.${key}${field ? `.${field}` : ""}`;
    if (!SERVICE_KEY.test(key)) {
      throw new EnvironmentOptionError(`service key ${JSON.stringify(key)}`, "a DNS label: a-z, 0-9 and \"-\", starting with a letter, at most 32 characters", key);
    }
    if (!def || typeof def !== "object") throw new EnvironmentOptionError(at(""), "a ServiceDefinition such as k3s()", def);
    if (def.image?.type !== "registry" || typeof def.image.reference !== "string" || def.image.reference === "") {
      throw new EnvironmentOptionError(at("image"), '{ type: "registry", reference: "<image>:<tag>" }', def.image);
    }
    if (def.command !== undefined && typeof def.command !== "string" && !(Array.isArray(def.command) && def.command.length > 0 && def.command.every((c) => typeof c === "string"))) {
      throw new EnvironmentOptionError(at("command"), "a shell string or a non-empty argv array of strings", def.command);
    }
    if (def.ports !== undefined && !(Array.isArray(def.ports) && def.ports.every(isPort))) {
      throw new EnvironmentOptionError(at("ports"), "an array of TCP ports (1-65535)", def.ports);
    }
    for (const [name, value] of Object.entries(def.env ?? {})) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) || typeof value !== "string") {
        throw new EnvironmentOptionError(at(`env.${name}`), "a string value under a name of letters, digits and _", value);
      }
    }
    for (const t of def.tmpfs ?? []) {
      if (typeof t !== "string" || !t.startsWith("/")) throw new EnvironmentOptionError(at("tmpfs"), "absolute paths", def.tmpfs);
    }
    if (def.cgroupns !== undefined && def.cgroupns !== "host" && def.cgroupns !== "private") {
      throw new EnvironmentOptionError(at("cgroupns"), '"host" or "private"', def.cgroupns);
    }
    const rc = def.readyCheck;
    if (rc !== undefined) {
      if (!(typeof rc.timeoutSecs === "number" && rc.timeoutSecs > 0 && Number.isFinite(rc.timeoutSecs))) {
        throw new EnvironmentOptionError(at("readyCheck.timeoutSecs"), "a positive number of seconds", rc.timeoutSecs);
      }
      if (rc.type === "exec") {
        if (typeof rc.command !== "string" || !rc.command) throw new EnvironmentOptionError(at("readyCheck.command"), "a non-empty shell command", rc.command);
      } else if (rc.type === "http") {
        if (!isPort(rc.port) || !(def.ports ?? []).includes(rc.port)) {
          throw new EnvironmentOptionError(at("readyCheck.port"), `one of the service's published ports (${(def.ports ?? []).join(", ") || "none"})`, rc.port);
        }
      } else {
        throw new EnvironmentOptionError(at("readyCheck.type"), '"exec" or "http"', (rc as { type: unknown }).type);
      }
    }
    for (const d of def.dnsNames ?? []) {
      if (d.service !== SELF_SERVICE_TOKEN && !keys.includes(d.service)) {
        throw new EnvironmentOptionError(at("dnsNames"), `owned by a service of this environment (${keys.join(", ")})`, d.service);
      }
    }
  }
}
