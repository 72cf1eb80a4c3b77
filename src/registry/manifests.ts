import type { Repository } from "./client.js";
import { discard, header, readCapped } from "./http.js";
import type { RetryPolicy } from "./retry.js";
import { DigestMismatchError, sha256Digest } from "../oci/digest.js";
import { MANIFEST_ACCEPT, manifestMediaType } from "../oci/media-types.js";

/** Largest manifest or index we accept (the OCI distribution spec's recommended limit). */
export const MANIFEST_LIMIT = 4 * 1024 * 1024;

/** A manifest or index as fetched: exact bytes, media type and digest. */
export interface FetchedManifest {
  readonly raw: Buffer;
  readonly mediaType: string;
  readonly digest: string;
}

/** GETs a manifest or index by tag or digest (both OCI and Docker types accepted; digest verified). */
export async function getManifest(repo: Repository, identifier: string, retry?: RetryPolicy): Promise<FetchedManifest> {
  // the body is read inside the retry loop: a manifest cut off mid-body is fetched again
  const { raw, contentType } = await repo.requestAndRead(
    { method: "GET", target: repo.path("manifests", identifier), headers: { accept: MANIFEST_ACCEPT.join(", ") }, expect: [200], retry },
    async (res) => ({ raw: await readCapped(res, MANIFEST_LIMIT, "manifest"), contentType: header(res, "content-type") }),
  );
  const digest = sha256Digest(raw);
  if (identifier.startsWith("sha256:") && digest !== identifier) {
    throw new DigestMismatchError(`manifest ${repo.registry}/${repo.name}@${identifier} has digest ${digest}`);
  }
  return { raw, mediaType: manifestMediaType(raw, contentType), digest };
}

/** HEADs a manifest: digest, media type and size, without the body. */
export async function headManifest(
  repo: Repository,
  identifier: string,
  retry?: RetryPolicy,
): Promise<{ digest: string | undefined; mediaType: string | undefined; size: number | undefined }> {
  const res = await repo.request({
    method: "HEAD",
    target: repo.path("manifests", identifier),
    headers: { accept: MANIFEST_ACCEPT.join(", ") },
    expect: [200],
    retry,
  });
  await discard(res);
  const length = header(res, "content-length");
  return {
    digest: header(res, "docker-content-digest"),
    mediaType: header(res, "content-type"),
    size: length === undefined ? undefined : Number(length),
  };
}

/** PUTs manifest bytes under a tag or digest; returns the digest. */
export async function putManifest(repo: Repository, reference: string, raw: Buffer, mediaType: string): Promise<string> {
  const res = await repo.request({
    method: "PUT",
    target: repo.path("manifests", reference),
    headers: { "content-type": mediaType },
    body: raw,
    expect: [200, 201, 202],
  });
  await discard(res);
  return sha256Digest(raw);
}

/** DELETEs a manifest by digest. */
export async function deleteManifest(repo: Repository, digest: string): Promise<void> {
  const res = await repo.request({ method: "DELETE", target: repo.path("manifests", digest), expect: [200, 202] });
  await discard(res);
}
