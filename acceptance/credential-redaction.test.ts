// Issue 11, black box: the built rebaser against real htpasswd and token registries behind the
// fault proxy, whose answer to the app image's manifest GET echoes the request's Authorization
// header. The phase fails, and nothing it prints holds the password, its base64 or a token.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { basicAuthorization, expectNoLeakedProcesses, faults, type Credentials, type EchoFormat, type FaultProxy } from "../test/harness/index.js";
import { useFaultProxy } from "../test/harness/vitest/use-fault-proxy.js";
import { useRegistry } from "../test/harness/vitest/use-registry.js";
import { useTempDir } from "../test/harness/vitest/use-temp-dir.js";
import { runLifecycle, type RunResult } from "./helpers/lifecycle.js";

expectNoLeakedProcesses();
const USER: Credentials = { username: "ci-robot", password: "s3cret-Pa55/for+echo" };
const BASE64 = Buffer.from(`${USER.username}:${USER.password}`).toString("base64");
const JWT_SHAPE = /eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/;
const htpasswd = useRegistry("htpasswd", { credentials: USER });
const htProxy = useFaultProxy(htpasswd);
const token = useRegistry("token", { credentials: USER });
const tokenProxy = useFaultProxy(token);
const temp = useTempDir("credential-redaction");
const APP_MANIFESTS = /^\/v2\/acme\/app\/manifests\//;

/** Runs the rebaser (debug logging on) on `<proxy>/acme/app:1` with the user's Basic credentials for the proxy. */
function rebase(proxy: FaultProxy): Promise<RunResult> {
  return runLifecycle(
    "rebaser",
    ["-no-color", "-log-level", "debug", "-report", join(temp(), "report.toml"), "-run-image", `${proxy.host}/acme/run:latest`, `${proxy.host}/acme/app:1`],
    { env: { HOME: temp(), CNB_REGISTRY_AUTH: JSON.stringify({ [proxy.host]: basicAuthorization(USER) }) } },
  );
}

describe.each<EchoFormat>(["json", "text", "bare"])("the rebaser, when a registry echoes the Authorization header (%s body)", (format) => {
  it("prints the registry's error without the password or its base64 (Basic auth)", async () => {
    const rule = htProxy().addRule({ method: "GET", path: APP_MANIFESTS, fault: faults.echoAuthorization(403, format) });
    const r = await rebase(htProxy());
    expect(rule.hits).toBe(1);
    expect(htProxy().requests({ path: APP_MANIFESTS }).map((q) => q.authorization)).toEqual([true]);
    expect(r.code, r.output).toBe(72);
    expect(r.stdout).toMatch(/ERROR: failed to set app image: GET http:\/\/.*\/v2\/acme\/app\/manifests\/1: .*<redacted>/s);
    expect(r.output).not.toContain(USER.password);
    expect(r.output).not.toContain(BASE64);
  });

  it("prints the registry's error without the bearer token it was sent (token auth)", async () => {
    const rule = tokenProxy().addRule({ method: "GET", path: APP_MANIFESTS, fault: faults.echoAuthorization(403, format) });
    const r = await rebase(tokenProxy());
    expect(rule.hits).toBe(1);
    expect(tokenProxy().requests({ path: APP_MANIFESTS }).map((q) => q.authorization)).toEqual([true]);
    expect(r.code, r.output).toBe(72);
    expect(r.stdout).toMatch(/ERROR: failed to set app image: .*<redacted>/s);
    expect(r.output).not.toMatch(JWT_SHAPE);
    expect(r.output).not.toContain(USER.password);
    expect(r.output).not.toContain(BASE64);
  });
});
