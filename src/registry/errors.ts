import { STATUS_CODES } from "node:http";
import { redactText, type Secrets } from "./redact.js";

/** One entry of a registry's JSON error body (`{"errors":[{code,message,detail}]}`). */
export interface RegistryDiagnostic {
  readonly code: string;
  readonly message: string;
  readonly detail?: unknown;
}

/** Registry error codes that mean "try again" (ggcr `temporaryErrorCodes`). */
const TEMPORARY_CODES = new Set(["BLOB_UPLOAD_INVALID", "TOOMANYREQUESTS", "UNKNOWN", "UNAVAILABLE"]);
/** Statuses worth retrying: timeouts, rate limits, server faults and proxies' 499/522. */
const RETRYABLE_STATUS = new Set([408, 429, 499, 522]);
/** Statuses never retried whatever the body says. */
const NEVER_RETRY_STATUS = new Set([400, 401, 403, 404, 405]);

/** Strips credentials and the query (upload state, signatures) from a URL for messages. */
export function redactUrl(url: string | URL): string {
  try {
    const u = new URL(url.toString());
    u.username = "";
    u.password = "";
    u.search = "";
    return u.toString();
  } catch {
    return "<invalid url>";
  }
}

/** Redacts the strings of a diagnostic's `detail` (any JSON value). */
function redactDetail(detail: unknown, secrets: Secrets | undefined): unknown {
  if (typeof detail === "string") return redactText(detail, secrets);
  if (Array.isArray(detail)) return detail.map((d) => redactDetail(d, secrets));
  if (typeof detail === "object" && detail !== null) {
    return Object.fromEntries(Object.entries(detail).map(([k, v]) => [k, redactDetail(v, secrets)]));
  }
  return detail;
}

/**
 * An HTTP response from a registry (or its token server) that was not what the operation expected.
 * Everything the server sent (diagnostics, raw body) is redacted on construction: known `secrets`
 * and anything shaped like a credential never reach the message.
 */
export class RegistryError extends Error {
  override name = "RegistryError";
  readonly diagnostics: readonly RegistryDiagnostic[];
  /** The non-JSON error body (redacted), kept for the message. */
  readonly rawBody: string;

  constructor(
    readonly method: string,
    /** Redacted request URL. */
    readonly url: string,
    readonly status: number,
    diagnostics: readonly RegistryDiagnostic[],
    rawBody = "",
    /** Parsed `Retry-After` in milliseconds, when the response had one. */
    readonly retryAfterMs?: number,
    secrets?: Secrets,
  ) {
    const clean = diagnostics.map((d) => ({
      code: redactText(d.code, secrets),
      message: redactText(d.message, secrets),
      ...(d.detail === undefined ? {} : { detail: redactDetail(d.detail, secrets) }),
    }));
    const raw = redactText(rawBody, secrets);
    super(`${method} ${url}: ${describe(method, status, clean, raw)}`);
    this.diagnostics = clean;
    this.rawBody = raw;
  }

  /** Registry error codes in the body. */
  get codes(): string[] {
    return this.diagnostics.map((d) => d.code);
  }

  /** Whether retrying the same request may succeed. */
  get temporary(): boolean {
    if (NEVER_RETRY_STATUS.has(this.status)) return false;
    if (this.status >= 500 || RETRYABLE_STATUS.has(this.status)) return true;
    return this.codes.some((c) => TEMPORARY_CODES.has(c));
  }
}

function describe(method: string, status: number, diagnostics: readonly RegistryDiagnostic[], rawBody: string): string {
  const text = `${status} ${STATUS_CODES[status] ?? ""}`.trim();
  if (diagnostics.length === 0) {
    if (rawBody.trim() !== "") return `unexpected status code ${text}: ${rawBody.trim().slice(0, 512)}`;
    if (method === "HEAD") return `unexpected status code ${text} (HEAD responses have no body, use GET for details)`;
    return `unexpected status code ${text}`;
  }
  const one = (d: RegistryDiagnostic) =>
    d.detail === undefined || d.detail === null ? `${d.code}: ${d.message}` : `${d.code}: ${d.message}; ${JSON.stringify(d.detail)}`;
  if (diagnostics.length === 1 && diagnostics[0]) return one(diagnostics[0]);
  return `multiple errors returned: ${diagnostics.map(one).join("; ")}`;
}

/** A connection-level failure (reset, refused, timeout, TLS, premature end of body). */
export class NetworkError extends Error {
  override name = "NetworkError";

  constructor(
    readonly method: string,
    readonly url: string,
    /** The underlying error code (`ECONNRESET`, `UND_ERR_SOCKET`, ...). */
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${method} ${url}: ${message}`, options);
  }

  /** Whether the failure is transient (TLS and DNS-not-found are not). */
  get temporary(): boolean {
    return !PERMANENT_NETWORK_CODES.has(this.code) && !this.code.startsWith("ERR_TLS") && !this.code.includes("CERT");
  }
}

/** Network error codes that retrying cannot fix: DNS, TLS and certificate failures, invalid requests. */
const PERMANENT_NETWORK_CODES = new Set([
  "ENOTFOUND",
  "ERR_SSL_WRONG_VERSION_NUMBER",
  "EPROTO",
  "UND_ERR_INVALID_ARG",
  "UND_ERR_NOT_SUPPORTED",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "ERR_INVALID_URL",
]);

/** Error codes of a connection that broke while a response body was read (the connection, not the content, failed). */
const BROKEN_CONNECTION_CODES = new Set([
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "UND_ERR_SOCKET",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_RES_CONTENT_LENGTH_MISMATCH",
  "UND_ERR_CLOSED",
  "UND_ERR_ABORTED",
  "ERR_STREAM_PREMATURE_CLOSE",
]);

/** Whether a body read failed because its connection broke (then reading again may succeed). */
export function isBrokenConnection(err: unknown): boolean {
  if (err instanceof NetworkError) return err.temporary;
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === "string" && BROKEN_CONNECTION_CODES.has(code);
}

/** The registry asked us to wait longer than we are willing to (Retry-After above the cap). */
export class RateLimitError extends Error {
  override name = "RateLimitError";
  constructor(
    readonly registry: string,
    readonly retryAfterMs: number | undefined,
    override readonly cause: RegistryError,
  ) {
    super(
      `registry ${registry} is rate limiting requests` +
        (retryAfterMs === undefined ? "" : ` and asked to retry after ${Math.ceil(retryAfterMs / 1000)}s`) +
        `: ${cause.message}`,
    );
  }
}

/** The HTTP status of the first RegistryError in the error's cause chain. */
export function statusOf(err: unknown): number | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 10; e = e.cause, depth++) {
    if (e instanceof RegistryError) return e.status;
    if (e instanceof RateLimitError) return e.cause.status;
  }
  return undefined;
}

/** Whether retrying the same request may succeed: a temporary registry or network failure. */
export function isTransient(err: unknown): boolean {
  if (err instanceof RegistryError || err instanceof NetworkError) return err.temporary;
  return false;
}
