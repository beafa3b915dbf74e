// Hostile input as a matrix: every field of a service definition and every
// k3s() option against the same sixteen values of the wrong shape (NaN, the
// infinities, negative, fractional, text, empty and blank text, a NUL byte,
// null, a boolean, an object, arrays, a symbol, a function, a bigint). Each
// value is either refused with the error of that layer naming the field, or
// it is one the field really takes — listed below with why — and accepted.
// Pure: these checks run before anything exists, so nothing can be left.

import assert from "node:assert/strict";
import { test } from "../harness.ts";
import { EnvironmentOptionError, validateEnvironmentOptions } from "../../lib/runner/validate.ts";
import { K3sOptionError, resolveK3sOptions } from "../../lib/k3s/options.ts";

const img = { type: "registry" as const, reference: "busybox:1" };
const fn = () => 1;
const VALUES: [string, unknown][] = [
  ["NaN", NaN], ["Infinity", Infinity], ["-Infinity", -Infinity], ["-1", -1], ["1.5", 1.5], ['"x"', "x"], ['""', ""], ['" "', " "],
  ["a NUL byte", "a\u0000b"], ["null", null], ["true", true], ["{}", {}], ["[]", []], ["[null]", [null]], ["a symbol", Symbol("s")], ["a function", fn],
];
// A bigint as well, where JSON would throw: the error must still be ours.
VALUES.push(["a bigint", 10n]);

/** The values each field takes, by their label above, and why. */
const SERVICE_ACCEPTS: Record<string, Record<string, string>> = {
  image: {},
  command: { '"x"': "a one-word shell command" },
  env: { "{}": "no variables" },
  ports: { "null": "null is absent (??)", "[]": "no ports" },
  tmpfs: { "[]": "no tmpfs mounts" },
  privileged: { "true": "a boolean" },
  cgroupns: {},
  files: { "[]": "no files", "a function": "files may be computed from the host's facts" },
  readyCheck: {},
  hookTimeoutSecs: { "1.5": "fractional seconds are fine" },
  dnsNames: { "[]": "no names" },
  ...Object.fromEntries(["helpers", "setup", "peers", "dispose", "readyProbe", "prepare", "diagnostics"].map((h) => [h, { "a function": "a hook" }])),
};
const K3S_ACCEPTS: Record<string, Record<string, string>> = {
  version: { '"x"': "a valid Docker tag" },
  image: { '"x"': "a valid image name (docker.io/library/x)" },
  extraArgs: { "[]": "no extra arguments" },
  readyTimeoutSecs: { "1.5": "fractional seconds are fine" },
  registry: { "true": "a boolean" },
  ingressDomains: { "null": "null is absent (??)", "[]": "no domains" },
  mirror: { "true": "the default mirrors", "{}": "the default mirrors, no upstream override" },
};

for (const [field, accepts] of Object.entries(SERVICE_ACCEPTS)) {
  test(`hostile matrix, startEnvironment: services.web.${field} against ${VALUES.length} values of the wrong shape`, () => {
    for (const [label, value] of VALUES) {
      const input = { services: { web: field === "image" ? { image: value } : { image: img, [field]: value } } };
      if (label in accepts) {
        validateEnvironmentOptions(input); // a value the field takes (the table says why)
        continue;
      }
      assert.throws(() => validateEnvironmentOptions(input), (e: Error) => {
        assert.ok(e instanceof EnvironmentOptionError, `${field} = ${label}: ${e.name}: ${e.message}`);
        assert.ok(e.message.includes(`services.web.${field}`), `${field} = ${label}: the error names another field: ${e.message}`);
        return true;
      }, `${field} = ${label} was accepted`);
    }
  });
}

for (const [option, accepts] of Object.entries(K3S_ACCEPTS)) {
  test(`hostile matrix, k3s(): option "${option}" against ${VALUES.length} values of the wrong shape`, () => {
    for (const [label, value] of VALUES) {
      if (label in accepts) {
        resolveK3sOptions({ [option]: value } as never);
        continue;
      }
      assert.throws(() => resolveK3sOptions({ [option]: value } as never), (e: Error) => {
        assert.ok(e instanceof K3sOptionError, `${option} = ${label}: ${e.name}: ${e.message}`);
        assert.ok(e.message.includes(`option "${option}`), `${option} = ${label}: the error names another option: ${e.message}`);
        return true;
      }, `${option} = ${label} was accepted`);
    }
  });
}

test("hostile matrix: NUL bytes in what reaches a process argument are refused up front, naming the field", () => {
  const N = "a\u0000b";
  const cases: [Record<string, unknown>, string][] = [
    [{ command: N }, "services.web.command"],
    [{ command: ["sh", "-c", N] }, "services.web.command[2]"],
    [{ readyCheck: { type: "exec", command: N, timeoutSecs: 5 } }, "services.web.readyCheck.command"],
    [{ env: { A: N } }, "services.web.env.A"],
    [{ tmpfs: ["/run" + N] }, "services.web.tmpfs[0]"],
    [{ files: [{ path: "/x" + N, content: "" }] }, "services.web.files[0].path"],
  ];
  for (const [extra, field] of cases) {
    assert.throws(() => validateEnvironmentOptions({ services: { web: { image: img, ...extra } } }), (e: Error) => e instanceof EnvironmentOptionError && e.message.includes(field) || assert.fail(`${field}: ${e.message}`));
  }
  assert.throws(() => validateEnvironmentOptions({ services: { web: { image: { type: "registry", reference: "busy" + N } } } }), /services\.web\.image\.reference must be an image reference/);
  assert.throws(() => validateEnvironmentOptions({ services: { web: { image: { type: "registry", reference: "Busy Box" } } } }), /services\.web\.image\.reference/);
});
