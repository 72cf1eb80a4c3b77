// Redaction alone (pure logic): credential-shaped text, the client's known secrets in the forms
// they travel in, and RegistryError, which redacts everything a registry sent on construction.
import { describe, expect, it } from "vitest";
import { basicCredential, bearerCredential, identityCredential } from "../../src/registry/credential.js";
import { RegistryError } from "../../src/registry/errors.js";
import { redactPatterns, Secrets } from "../../src/registry/redact.js";

const b64 = (s: string): string => Buffer.from(s).toString("base64");
const JWT = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ0ZXN0dXNlciIsImFjY2VzcyI6W119.c2lnbmF0dXJlLWJ5dGVz";

describe("redactPatterns", () => {
  it.each([
    ["an echoed header line", `request had Authorization: Basic ${b64("user:hunter22")}\nHost: r`, b64("user:hunter22")],
    ["a JSON header echo", JSON.stringify({ headers: { Authorization: [`Bearer ${JWT}`] } }), JWT],
    ["a Basic value in prose", `credentials Basic ${b64("ci:s3cret!")} rejected`, b64("ci:s3cret!")],
    ["a Bearer value in prose", "token Bearer 0123456789abcdef.ghij expired", "0123456789abcdef.ghij"],
    ["a bare JWT", `invalid token ${JWT}`, JWT],
    ["an X-Identity value", "X-Identity 1/refresh-token-value", "1/refresh-token-value"],
    ["token fields of a JSON body", '{"token":"t0ken-v4lue","refresh_token":"r3fresh"}', "t0ken-v4lue"],
    ["a password form field", "grant_type=password&password=pa55word&username=u", "pa55word"],
  ])("removes %s", (_name, text, secret) => {
    const out = redactPatterns(text);
    expect(out).not.toContain(secret);
    expect(out).toContain("<redacted>");
  });

  it.each([
    "authentication required",
    "basic authentication is not enabled",
    'Bearer realm="https://auth.example/token",service="registry"',
    "token request failed",
    "manifest unknown: MANIFEST_UNKNOWN",
  ])("keeps ordinary registry text: %s", (text) => {
    expect(redactPatterns(text)).toBe(text);
  });
});

describe("Secrets", () => {
  it("removes a Basic credential's password and user:password in every form it travels in", () => {
    const secrets = new Secrets();
    secrets.addCredential(basicCredential("ci-bot", 'p@ss "word"/+x'));
    const password = 'p@ss "word"/+x';
    const forms = [
      password,
      b64(`ci-bot:${password}`),
      Buffer.from(`ci-bot:${password}`).toString("base64url"),
      JSON.stringify(password).slice(1, -1),
      encodeURIComponent(password),
    ];
    for (const form of forms) {
      const out = secrets.redact(`registry said: ${form} is wrong`);
      expect(out).not.toContain(form);
      expect(out).toBe("registry said: <redacted> is wrong");
    }
  });

  it("removes bearer, identity and obtained tokens that have no recognisable shape", () => {
    const secrets = new Secrets();
    secrets.addCredential(bearerCredential("opaque-static-token"));
    secrets.addCredential(identityCredential("opaque-identity"));
    secrets.addToken("tok_from_server");
    const text = `a opaque-static-token b opaque-identity c ${b64("<token>:opaque-identity")} d tok_from_server`;
    expect(secrets.redact(text)).toBe("a <redacted> b <redacted> c <redacted> d <redacted>");
  });

  it("ignores secrets too short to search for, and applies the patterns as well", () => {
    const secrets = new Secrets();
    secrets.addCredential(basicCredential("u", "abc"));
    expect(secrets.redact("abc is a word")).toBe("abc is a word");
    expect(secrets.redact(`Authorization: Bearer ${JWT}`)).toBe("Authorization: <redacted>");
  });
});

describe("RegistryError", () => {
  it("redacts diagnostics, their detail and a raw body before building its message", () => {
    const secrets = new Secrets();
    secrets.addCredential(basicCredential("ci-bot", "hunter2-secret"));
    const header = `Basic ${b64("ci-bot:hunter2-secret")}`;
    const err = new RegistryError(
      "GET",
      "http://r.example/v2/app/manifests/latest",
      403,
      [{ code: "DENIED", message: `denied for ${b64("ci-bot:hunter2-secret")}`, detail: { Authorization: [header], nested: { password: "hunter2-secret" } } }],
      "",
      undefined,
      secrets,
    );
    expect(err.message).not.toContain("hunter2-secret");
    expect(err.message).not.toContain(b64("ci-bot:hunter2-secret"));
    expect(err.message).toBe('GET http://r.example/v2/app/manifests/latest: DENIED: denied for <redacted>; {"Authorization":["Basic <redacted>"],"nested":{"password":"<redacted>"}}');
    expect(JSON.stringify(err.diagnostics)).not.toContain("hunter2");

    const text = new RegistryError("GET", "http://r.example/v2/", 502, [], `upstream failed\nAuthorization: ${header}\n`, undefined, secrets);
    expect(text.message).not.toContain(b64("ci-bot:hunter2-secret"));
    expect(text.rawBody).toBe("upstream failed\nAuthorization: <redacted>\n");
  });

  it("redacts credential-shaped text even without known secrets", () => {
    const err = new RegistryError("GET", "http://r.example/v2/", 401, [{ code: "UNAUTHORIZED", message: `bad token ${JWT}` }]);
    expect(err.message).toBe("GET http://r.example/v2/: UNAUTHORIZED: bad token <redacted>");
  });
});
