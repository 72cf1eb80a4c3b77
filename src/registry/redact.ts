import type { Credential } from "./credential.js";

/** What a secret is replaced with. */
export const REDACTED = "<redacted>";

/** Raw secrets shorter than this are not searched for (they would cut ordinary words out of messages). */
const MIN_SECRET_LENGTH = 4;

/** A `Basic` value: base64 of `user:password` (decoding it is what tells it from an English word). */
function looksLikeBasic(value: string): boolean {
  return Buffer.from(value, "base64").toString("latin1").includes(":");
}

/**
 * A bearer or identity token: long, or with the digits and punctuation words do not have, and not
 * a challenge's parameter name (`Bearer realm="…"`).
 */
function looksLikeToken(value: string): boolean {
  if (/^[A-Za-z_]{1,11}=$/.test(value)) return false;
  return value.length >= 12 || /[0-9._~+/=-]/.test(value);
}

/**
 * Secret shapes that need no knowledge of the secret: echoed `Authorization` headers (as text or
 * JSON), `Basic`/`Bearer`/`X-Identity` credentials, JWT-shaped strings, and token or password
 * fields of JSON bodies and forms.
 */
const PATTERNS: readonly [RegExp, (match: string, ...groups: string[]) => string][] = [
  [/((?:proxy-)?authorization["']?\s*[:=]\s*\[?\s*["']?)[^"'\r\n\]]+/gi, (_m, prefix = "") => `${prefix}${REDACTED}`],
  [/\b(basic)(\s+)([A-Za-z0-9+/=_-]{4,})/gi, (m, scheme = "", space = "", value = "") => (looksLikeBasic(value) ? `${scheme}${space}${REDACTED}` : m)],
  [/\b(bearer|x-identity)(\s+)([A-Za-z0-9+/_.~=-]{4,})/gi, (m, scheme = "", space = "", value = "") => (looksLikeToken(value) ? `${scheme}${space}${REDACTED}` : m)],
  [/\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g, () => REDACTED],
  [/("(?:access_token|refresh_token|id_token|token|password|secret|identitytoken|registrytoken)"\s*:\s*")(?:[^"\\]|\\.)*"/gi, (_m, prefix = "") => `${prefix}${REDACTED}"`],
  [/\b((?:access_token|refresh_token|password)=)[^&\s"']+/gi, (_m, prefix = "") => `${prefix}${REDACTED}`],
];

/** Removes secret-shaped text (see {@link PATTERNS}) from a string. */
export function redactPatterns(text: string): string {
  let out = text;
  for (const [pattern, replace] of PATTERNS) out = out.replace(pattern, replace);
  return out;
}

/** The forms a secret travels or is echoed in: as is, base64, base64url, JSON-escaped, URL-encoded. */
function forms(value: string): string[] {
  const bytes = Buffer.from(value, "utf8");
  return [value, bytes.toString("base64"), bytes.toString("base64url"), JSON.stringify(value).slice(1, -1), encodeURIComponent(value)];
}

/**
 * The credentials and tokens one registry client has handled (keychain answers, tokens from token
 * servers), cut out of any text a registry sends back before it can reach an error message or a log.
 */
export class Secrets {
  private readonly values = new Set<string>();
  private sorted: string[] | undefined;

  /** Remembers a credential's secret parts, including the `Basic` header value built from them. */
  addCredential(cred: Credential): void {
    if (cred.kind === "basic") {
      this.add(cred.password);
      this.add(`${cred.username}:${cred.password}`);
    } else if (cred.kind === "bearer" || cred.kind === "identity") {
      this.add(cred.token);
      // the identity token's GET fallback sends it as Basic `<token>:<identity token>`
      this.add(`<token>:${cred.token}`);
    }
  }

  /** Remembers a token (registry bearer token, refresh token). */
  addToken(token: string): void {
    this.add(token);
  }

  private add(value: string): void {
    if (value.length < MIN_SECRET_LENGTH) return;
    for (const form of forms(value)) {
      if (form.length >= MIN_SECRET_LENGTH && !this.values.has(form)) {
        this.values.add(form);
        this.sorted = undefined;
      }
    }
  }

  /** `text` without any known secret (longest first) or secret-shaped text. */
  redact(text: string): string {
    this.sorted ??= [...this.values].sort((a, b) => b.length - a.length);
    let out = text;
    for (const secret of this.sorted) if (out.includes(secret)) out = out.split(secret).join(REDACTED);
    return redactPatterns(out);
  }
}

/** Redacts text with the known secrets when given, else with the patterns alone. */
export function redactText(text: string, secrets?: Secrets): string {
  return secrets ? secrets.redact(text) : redactPatterns(text);
}
