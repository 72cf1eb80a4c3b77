import { STATUS_CODES } from "node:http";

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

/** An HTTP response from a registry that was not what the operation expected. */
export class RegistryError extends Error {
  override name = "RegistryError";

  constructor(
    readonly method: string,
    /** Redacted request URL. */
    readonly url: string,
    readonly status: number,
    readonly diagnostics: readonly RegistryDiagnostic[],
    /** The non-JSON error body (truncated), kept for the message. */
    readonly rawBody = "",
    /** Parsed `Retry-After` in milliseconds, when the response had one. */
    readonly retryAfterMs?: number,
  ) {
    super(`${method} ${url}: ${describe(method, status, diagnostics, rawBody)}`);
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

/** Any error that says the registry refused access (401/403), anywhere in the cause chain. */
export function isAccessDenied(err: unknown): boolean {
  const s = statusOf(err);
  return s === 401 || s === 403;
}

/** The HTTP status of the first RegistryError in the error's cause chain. */
export function statusOf(err: unknown): number | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 10; e = e.cause, depth++) {
    if (e instanceof RegistryError) return e.status;
    if (e instanceof RateLimitError) return e.cause.status;
  }
  return undefined;
}

/** Whether the transport may retry this failure. */
export function isTransient(err: unknown): boolean {
  if (err instanceof RegistryError || err instanceof NetworkError) return err.temporary;
  return false;
}
