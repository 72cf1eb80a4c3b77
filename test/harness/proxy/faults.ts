/** What the proxy does to a request a rule applies to. */
export type Fault =
  /** Answer directly without contacting the registry. */
  | { kind: "respond"; status: number; headers: Record<string, string>; body: string }
  /** Forward; on a 2xx answer send the headers and `bytes` of the body (default half), then drop the connection. */
  | { kind: "reset-mid-body"; bytes?: number; rst?: boolean }
  /** Forward a manifest GET; on a 2xx manifest answer serve it with `layers: []`. */
  | { kind: "empty-layers" }
  /** Forward; on a 2xx answer reply 307 to the redirect listener on another host name instead. */
  | { kind: "redirect-other-host" }
  /** Answer `status` with a body that repeats the request's Authorization header (see {@link EchoFormat}). */
  | { kind: "echo-authorization"; status: number; format: EchoFormat }
  /** Read the request, then close the connection without an answer (FIN; `rst: true` sends a TCP reset). */
  | { kind: "drop"; rst?: boolean }
  /** Read the request and never answer; applied when the client gives up and closes the connection. */
  | { kind: "stall" }
  /** Forward, passing the request body, the response body or both at most `bytesPerSecond` (a slow link). */
  | { kind: "throttle"; bytesPerSecond: number; direction: ThrottleDirection };

/** Which body a `throttle` fault slows: what the client sends, what it receives, or both. */
export type ThrottleDirection = "request" | "response" | "both";

/**
 * How an echoed Authorization header is written: `json`, a registry error with the header in its
 * message and detail; `text`, header lines in a plain-text body; `bare`, a registry error naming only
 * the credential (the header value without its scheme, e.g. the base64 of `user:password`).
 */
export type EchoFormat = "json" | "text" | "bare";

/** A registry-style JSON error body: `{"errors":[{"code","message","detail"}]}`. */
export function registryErrorBody(code: string, message: string, detail: unknown = null): string {
  return JSON.stringify({ errors: [{ code, message, detail }] });
}

const JSON_HEADERS = { "content-type": "application/json; charset=utf-8" };

/** Constructors for the faults the proxy can inject. */
export const faults = {
  /** A 5xx answer with a registry JSON error body (UNAVAILABLE for 503, UNKNOWN otherwise). */
  serverError(status = 503): Fault {
    const code = status === 503 ? "UNAVAILABLE" : "UNKNOWN";
    return { kind: "respond", status, headers: JSON_HEADERS, body: registryErrorBody(code, `injected ${status}`) };
  },
  /** 429 TOOMANYREQUESTS with `Retry-After` (seconds, or an HTTP date string). */
  tooManyRequests(retryAfter: number | string): Fault {
    return {
      kind: "respond",
      status: 429,
      headers: { ...JSON_HEADERS, "retry-after": String(retryAfter) },
      body: registryErrorBody("TOOMANYREQUESTS", "too many requests"),
    };
  },
  /** Any status with a registry JSON error body, e.g. (403, "DENIED", "requested access to the resource is denied"). */
  registryError(status: number, code: string, message: string, headers: Record<string, string> = {}): Fault {
    return { kind: "respond", status, headers: { ...JSON_HEADERS, ...headers }, body: registryErrorBody(code, message) };
  },
  /** 401 with a plain-text (non-JSON) body and, optionally, a WWW-Authenticate header. */
  plainTextUnauthorized(body = "401 Unauthorized\n", wwwAuthenticate?: string): Fault {
    const headers: Record<string, string> = { "content-type": "text/plain; charset=utf-8" };
    if (wwwAuthenticate !== undefined) headers["www-authenticate"] = wwwAuthenticate;
    return { kind: "respond", status: 401, headers, body };
  },
  /** Any status, headers and body. */
  respond(status: number, body = "", headers: Record<string, string> = {}): Fault {
    return { kind: "respond", status, headers, body };
  },
  /** Headers plus part of the body, then the socket is destroyed (FIN; `rst: true` sends a TCP reset). */
  resetMidBody(options: { bytes?: number; rst?: boolean } = {}): Fault {
    return { kind: "reset-mid-body", ...options };
  },
  /** The real manifest with its `layers` replaced by `[]` ("image has no layers" mirror fault). */
  emptyLayers(): Fault {
    return { kind: "empty-layers" };
  },
  /** 307 to `http://<other host name>:<port>/...` which records the request headers and serves the blob. */
  redirectToOtherHost(): Fault {
    return { kind: "redirect-other-host" };
  },
  /** `status` with the request's Authorization header echoed in the body, like a careless registry or proxy. */
  echoAuthorization(status = 403, format: EchoFormat = "json"): Fault {
    return { kind: "echo-authorization", status, format };
  },
  /** No answer: the connection is closed once the request has been read (a reset before the headers). */
  drop(options: { rst?: boolean } = {}): Fault {
    return { kind: "drop", ...options };
  },
  /** No answer and no close: the request hangs until the client aborts it (then the fault counts as applied). */
  stall(): Fault {
    return { kind: "stall" };
  },
  /** Forwards with the request body (an upload), the response body (a download) or both slowed to `bytesPerSecond`. */
  throttle(bytesPerSecond: number, direction: ThrottleDirection = "both"): Fault {
    return { kind: "throttle", bytesPerSecond, direction };
  },
};

/** The body an `echo-authorization` fault answers with. */
export function echoedAuthorizationBody(authorization: string | undefined, format: EchoFormat): string {
  const value = authorization ?? "";
  if (format === "bare") return registryErrorBody("DENIED", `credentials ${value.replace(/^\S+\s+/, "")} were rejected`);
  if (format === "text") return `access denied for request with headers:\nAuthorization: ${value}\nUser-Agent: echo\n`;
  return registryErrorBody("DENIED", `access denied (Authorization: ${value})`, { Authorization: [value] });
}
