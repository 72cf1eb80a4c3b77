import type { RegistryClient, RequestOptions } from "./client.js";
import { RegistryError } from "./errors.js";
import { discard } from "./http.js";
import { headManifest } from "./manifests.js";
import type { Reference } from "./reference.js";

/** The outcome of an access probe, with the reason when access is missing. */
export interface AccessResult {
  readonly ok: boolean;
  /** HTTP status of the probe's failure, if it was an HTTP error. */
  readonly status?: number;
  readonly error?: Error;
}

/**
 * Options of {@link checkReadAccess}: `retry`, `signal` and `timeoutMs` bound the whole probe,
 * its ping and token requests included (`retry: NO_RETRY` makes exactly one attempt of each).
 */
export interface ReadAccessOptions extends RequestOptions {
  /** Count a 404 as readable (the Go lifecycle's rule for the analyzer's checks). */
  readonly notFoundIsReadable?: boolean;
}

/**
 * Read probe: a manifest HEAD with a pull-scoped token. 401/403 and network failures deny access;
 * so does 404 unless `notFoundIsReadable` (the Go lifecycle counts 404 as readable; our run-image
 * selection does not, see contract §6.1 and issue 4).
 */
export async function checkReadAccess(client: RegistryClient, ref: Reference, options: ReadAccessOptions = {}): Promise<AccessResult> {
  const { notFoundIsReadable, ...request } = options;
  try {
    await headManifest(client.repository(ref, request), ref.identifier);
    return { ok: true };
  } catch (err) {
    const status = err instanceof RegistryError ? err.status : undefined;
    if (status === 404 && notFoundIsReadable) return { ok: true, status };
    return { ok: false, status, error: err instanceof Error ? err : new Error(String(err)) };
  }
}

/**
 * Write probe (ggcr `CheckPushPermission`): a push-scoped token, a manifest HEAD (404 is fine for an
 * image that does not exist yet), then a blob upload POST whose session is cancelled right away.
 */
export async function checkWriteAccess(client: RegistryClient, ref: Reference): Promise<AccessResult> {
  const repo = client.repository(ref, { push: true });
  try {
    try {
      await headManifest(repo, ref.identifier);
    } catch (err) {
      if (!(err instanceof RegistryError && err.status === 404)) throw err;
    }
    const res = await repo.request({ method: "POST", target: `/v2/${repo.name}/blobs/uploads/`, expect: [202] });
    await discard(res);
    const url = repo.location(res);
    if (url) {
      // cancel the probe's upload session; failure to cancel is harmless (sessions expire)
      await repo
        .request({ method: "DELETE", target: url, expect: [200, 202, 204, 404] })
        .then((r) => discard(r))
        .catch(() => undefined);
    }
    return { ok: true };
  } catch (err) {
    const status = err instanceof RegistryError ? err.status : undefined;
    return { ok: false, status, error: err instanceof Error ? err : new Error(String(err)) };
  }
}
