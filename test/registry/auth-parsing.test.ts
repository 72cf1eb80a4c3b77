import { inspect } from "node:util";
import { mkdtempSync, writeFileSync, chmodSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseChallenges, pickChallenge } from "../../src/registry/challenge.js";
import { basicCredential, credentialFromHeader } from "../../src/registry/credential.js";
import { DefaultKeychain, parseRegistryAuthEnv } from "../../src/registry/keychain.js";
import { backoffDelay, DEFAULT_RETRY_POLICY, delayFor, parseRetryAfter } from "../../src/registry/retry.js";
import { RateLimitError, RegistryError } from "../../src/registry/errors.js";

describe("WWW-Authenticate parsing", () => {
  it("parses bearer challenges with quoted, escaped and comma-separated parameters", () => {
    const [c] = parseChallenges(['Bearer realm="https://auth.io/token",service="reg.io",scope="repository:a/b:pull,push",error="insufficient_scope"']);
    expect(c).toEqual({ scheme: "bearer", params: { realm: "https://auth.io/token", service: "reg.io", scope: "repository:a/b:pull,push", error: "insufficient_scope" } });
    expect(parseChallenges(['Basic realm="a \\"b\\""'])[0]?.params.realm).toBe('a "b"');
  });

  it("prefers bearer among several challenges", () => {
    const cs = parseChallenges(['Basic realm="x", Bearer realm="https://t/token",service=s']);
    expect(cs.map((c) => c.scheme)).toEqual(["basic", "bearer"]);
    expect(pickChallenge(cs)?.scheme).toBe("bearer");
  });
});

describe("credentials", () => {
  it("parse CNB_REGISTRY_AUTH values case-insensitively", () => {
    expect(credentialFromHeader(`basic ${Buffer.from("u:p:w").toString("base64")}`)).toMatchObject({ kind: "basic", username: "u", password: "p:w" });
    expect(credentialFromHeader("Bearer tok")).toMatchObject({ kind: "bearer", token: "tok" });
    expect(credentialFromHeader("X-Identity id")).toMatchObject({ kind: "identity", token: "id" });
    expect(() => credentialFromHeader("Digest x")).toThrow("parsing auth header: unknown auth type from header");
  });

  it("never print their secrets", () => {
    const cred = basicCredential("user", "s3cret-pass");
    expect(JSON.stringify(cred)).not.toContain("s3cret");
    expect(inspect(cred)).not.toContain("s3cret");
  });

  it("reject invalid CNB_REGISTRY_AUTH without echoing it", () => {
    let message = "";
    try {
      parseRegistryAuthEnv('{"reg.io": "Basic c2VjcmV0LXZhbHVl"');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain("failed to parse CNB_REGISTRY_AUTH");
    expect(message).not.toContain("c2VjcmV0");
    expect(() => parseRegistryAuthEnv('["x"]')).toThrow("expected a JSON object");
    expect([...parseRegistryAuthEnv('{"https://reg.io/v2/":"Bearer t","docker.io":"Bearer u"}').keys()]).toEqual(["reg.io", "index.docker.io"]);
  });
});

describe("keychain", () => {
  const home = mkdtempSync(join(tmpdir(), "keychain-"));
  mkdirSync(join(home, ".docker"));
  writeFileSync(
    join(home, ".docker", "config.json"),
    JSON.stringify({
      auths: {
        "https://index.docker.io/v1/": { auth: Buffer.from("hub:pw").toString("base64") },
        "https://reg.example.com": { username: "u", password: "p" },
        "tok.example.com": { identitytoken: "refresh" },
      },
      credHelpers: { "helped.example.com": "fake" },
    }),
  );
  const bin = join(home, "bin");
  mkdirSync(bin);
  writeFileSync(join(bin, "docker-credential-fake"), '#!/bin/sh\nread url\necho "{\\"ServerURL\\":\\"$url\\",\\"Username\\":\\"helper-user\\",\\"Secret\\":\\"helper-secret\\"}"\n');
  chmodSync(join(bin, "docker-credential-fake"), 0o755);
  const env = { HOME: home, PATH: `${bin}:${process.env.PATH ?? ""}` };

  it("prefers CNB_REGISTRY_AUTH, then the docker config (auths, credHelpers), then anonymous (F76, F77)", async () => {
    const kc = new DefaultKeychain({ env: { ...env, CNB_REGISTRY_AUTH: '{"reg.example.com":"Bearer from-env"}' } });
    expect(await kc.resolve("reg.example.com")).toMatchObject({ kind: "bearer", token: "from-env" });
    expect(await kc.resolve("index.docker.io")).toMatchObject({ kind: "basic", username: "hub", password: "pw" });
    expect(await kc.resolve("tok.example.com")).toMatchObject({ kind: "identity", token: "refresh" });
    expect(await kc.resolve("helped.example.com")).toMatchObject({ kind: "basic", username: "helper-user", password: "helper-secret" });
    expect(await kc.resolve("other.example.com")).toEqual({ kind: "anonymous" });
    const plain = new DefaultKeychain({ env });
    expect(await plain.resolve("reg.example.com")).toMatchObject({ kind: "basic", username: "u" });
  });

  it("uses DOCKER_CONFIG when set", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dockercfg-"));
    writeFileSync(join(dir, "config.json"), JSON.stringify({ auths: { "x.io": { auth: Buffer.from("a:b").toString("base64") } } }));
    const kc = new DefaultKeychain({ env: { HOME: "/nonexistent", DOCKER_CONFIG: dir } });
    expect(await kc.resolve("x.io")).toMatchObject({ kind: "basic", username: "a" });
  });
});

describe("retry delays", () => {
  it("back off exponentially with ±50 % jitter up to the cap", () => {
    expect(backoffDelay(DEFAULT_RETRY_POLICY, 1, () => 0)).toBe(125);
    expect(backoffDelay(DEFAULT_RETRY_POLICY, 1, () => 0.999)).toBe(375);
    expect(backoffDelay(DEFAULT_RETRY_POLICY, 3, () => 0.5)).toBe(1000);
    expect(backoffDelay(DEFAULT_RETRY_POLICY, 20, () => 0.5)).toBe(10_000);
  });

  it("honour Retry-After in seconds or as a date, and refuse waits over the cap", () => {
    expect(parseRetryAfter("3")).toBe(3000);
    expect(parseRetryAfter(new Date(Date.now() + 5000).toUTCString(), Date.now())).toBeGreaterThan(3000);
    const err = (ms: number) => new RegistryError("GET", "http://r/v2/", 429, [], "", ms);
    expect(delayFor(DEFAULT_RETRY_POLICY, 1, err(2000), "r")).toBeGreaterThanOrEqual(2000);
    expect(() => delayFor(DEFAULT_RETRY_POLICY, 1, err(120_000), "reg.example.com")).toThrow(RateLimitError);
    expect(() => delayFor(DEFAULT_RETRY_POLICY, 1, err(120_000), "reg.example.com")).toThrow("registry reg.example.com is rate limiting");
  });

  it("classify statuses: never 400/401/403/404/405, always 5xx/408/429/499/522", () => {
    const t = (status: number, codes: string[] = []) => new RegistryError("GET", "u", status, codes.map((code) => ({ code, message: "" }))).temporary;
    expect([400, 401, 403, 404, 405].map((s) => t(s, ["UNKNOWN"]))).toEqual([false, false, false, false, false]);
    expect([408, 429, 499, 500, 502, 503, 504, 522].every((s) => t(s))).toBe(true);
    expect(t(409, ["TOOMANYREQUESTS"])).toBe(true);
    expect(t(409)).toBe(false);
  });
});
