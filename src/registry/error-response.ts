import { z } from "zod";
import { RegistryError, redactUrl, type RegistryDiagnostic } from "./errors.js";
import { discard, header, readForError, type HttpResponse } from "./http.js";
import type { Secrets } from "./redact.js";
import { parseRetryAfter } from "./retry.js";

/** The distribution spec's error body: `{"errors":[{"code","message","detail"}]}`. */
const ErrorBody = z
  .object({
    errors: z.array(z.object({ code: z.unknown(), message: z.unknown().optional(), detail: z.unknown().optional() }).loose()),
  })
  .loose();

/** Parses an error body's diagnostics; undefined when it is not the registry error format. */
export function parseDiagnostics(body: string): RegistryDiagnostic[] | undefined {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return undefined;
  }
  const parsed = ErrorBody.safeParse(json);
  if (!parsed.success) return undefined;
  return parsed.data.errors.map((e) => ({ code: String(e.code), message: typeof e.message === "string" ? e.message : "", detail: e.detail }));
}

/**
 * Turns a registry's error response into a RegistryError: its JSON diagnostics or (truncated) text
 * body, `Retry-After`, and everything redacted of `secrets` and credential-shaped text.
 */
export async function registryError(res: HttpResponse, method: string, secrets?: Secrets): Promise<RegistryError> {
  const body = method === "HEAD" ? "" : await readForError(res);
  if (method === "HEAD") await discard(res);
  const diagnostics = parseDiagnostics(body);
  // a non-JSON body (proxies, CDNs) is kept as text
  const raw = diagnostics ? "" : body;
  const retryAfterMs = parseRetryAfter(header(res, "retry-after"));
  return new RegistryError(method, redactUrl(res.url), res.status, diagnostics ?? [], raw, retryAfterMs, secrets);
}
