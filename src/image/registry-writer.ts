import { Readable } from "node:stream";
import type { RegistryClient, Repository } from "../registry/client.js";
import { putManifest } from "../registry/manifests.js";
import type { Reference } from "../registry/reference.js";
import { uploadBlob, type UploadResult } from "../registry/upload.js";
import { createLimiter } from "../util/limiter.js";
import type { Image, Layer } from "./types.js";

/** Progress of one blob upload. */
export interface BlobProgress {
  readonly digest: string;
  readonly sent: number;
  readonly total: number;
}

/** Options of {@link pushImage}. */
export interface PushOptions {
  /** Blob uploads running at once (default 4). */
  readonly concurrency?: number;
  readonly onProgress?: (progress: BlobProgress) => void;
  /** Called once per layer with how it reached the registry. */
  readonly onLayer?: (layer: Layer, result: UploadResult) => void;
  /**
   * Uploads already done or under way in this run, keyed by `registry/repo@digest`, shared between
   * pushes (app image, its tags, the cache image) so each blob is checked and sent once.
   */
  readonly uploads?: Map<string, Promise<UploadResult>>;
}

/** Result of {@link pushImage}: the manifest digest and size, per-name outcome. */
export interface PushResult {
  readonly digest: string;
  readonly size: number;
  readonly mediaType: string;
}

function memoKey(repo: Repository, digest: string): string {
  return `${repo.registry}/${repo.name}@${digest}`;
}

/**
 * Pushes an image under one or more names: every blob is uploaded once per repository (HEAD first,
 * same-registry mount from the layer's source repository, else streamed), then the manifest is
 * PUT once per name. All names are attempted; the first failure is rethrown with the names that failed.
 */
export async function pushImage(client: RegistryClient, image: Image, refs: readonly Reference[], options: PushOptions = {}): Promise<PushResult> {
  const [manifestInfo, configInfo, layers] = await Promise.all([image.manifest(), image.config(), image.layers()]);
  const uploads = options.uploads ?? new Map<string, Promise<UploadResult>>();
  const limit = createLimiter(options.concurrency ?? 4);
  const repos = new Map<string, Repository>();
  const repoKey = (ref: Reference) => `${ref.registry}/${ref.repository}|${client.isInsecure(ref.original)}`;
  for (const ref of refs) {
    const key = repoKey(ref);
    if (repos.has(key)) continue;
    const mountFrom = [...new Set(layers.filter((l) => l.source?.registry === ref.registry).map((l) => l.source?.repository ?? ""))];
    repos.set(key, client.repository(ref, { push: true, mountFrom }));
  }

  const uploadTo = (repo: Repository, digest: string, size: number, open: () => Promise<Readable>, mountFrom?: string) => {
    const key = memoKey(repo, digest);
    let pending = uploads.get(key);
    if (!pending) {
      pending = limit(() =>
        uploadBlob(repo, { digest, size, open }, {
          mountFrom,
          onProgress: options.onProgress ? (sent) => options.onProgress?.({ digest, sent, total: size }) : undefined,
        }),
      );
      uploads.set(key, pending);
      pending.catch(() => uploads.delete(key));
    }
    return pending;
  };

  for (const repo of repos.values()) {
    await Promise.all([
      ...layers.map(async (layer) => {
        const mount = layer.source?.registry === repo.registry ? layer.source.repository : undefined;
        const result = await uploadTo(repo, layer.digest, layer.size, () => layer.open(), mount);
        options.onLayer?.(layer, result);
      }),
      uploadTo(repo, configInfo.digest, configInfo.raw.length, () => Promise.resolve(Readable.from([configInfo.raw]))),
    ]);
  }

  const failures: string[] = [];
  let firstError: unknown;
  for (const ref of refs) {
    // the blobs' repository handle: same token scopes, so the cached token is reused
    const repo = repos.get(repoKey(ref)) ?? client.repository(ref, { push: true });
    try {
      await putManifest(repo, ref.digest ?? ref.tag ?? "latest", manifestInfo.raw, manifestInfo.mediaType);
    } catch (err) {
      failures.push(ref.original);
      firstError ??= err;
    }
  }
  if (firstError !== undefined) {
    throw new PushError(failures, firstError);
  }
  return { digest: manifestInfo.digest, size: manifestInfo.raw.length, mediaType: manifestInfo.mediaType };
}

/** Saving failed for some names. */
export class PushError extends Error {
  override name = "PushError";
  constructor(
    readonly failed: readonly string[],
    override readonly cause: unknown,
  ) {
    super(`failed to write image to the following tags: [${failed.join(" ")}]: ${(cause as Error)?.message ?? String(cause)}`);
  }
}
