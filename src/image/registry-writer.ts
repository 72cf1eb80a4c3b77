import { Readable } from "node:stream";
import type { RegistryClient, Repository } from "../registry/client.js";
import { putManifest } from "../registry/manifests.js";
import type { Reference } from "../registry/reference.js";
import { uploadBlob, type UploadResult } from "../registry/upload.js";
import { createLimiter, type Limiter } from "../util/limiter.js";
import type { Image, Layer } from "./types.js";

/** Progress of one blob upload. */
export interface BlobProgress {
  readonly digest: string;
  readonly sent: number;
  readonly total: number;
}

/** Options of {@link BlobPusher}. */
export interface BlobPusherOptions {
  /** Blob uploads running at once (default 4). */
  readonly concurrency?: number;
  readonly onProgress?: (progress: BlobProgress) => void;
}

/** A blob to put in a repository: digest, size and how to read it again. */
export interface BlobToPush {
  readonly digest: string;
  readonly size: number;
  open(): Promise<Readable>;
  /** Where a copy lives already (mount source on the same registry). */
  readonly source?: { readonly registry: string; readonly repository: string };
  /** This process computed `digest` from the bytes `open()` returns: they are not hashed again (see BlobSource). */
  readonly selfHashed?: boolean;
}

/**
 * Uploads blobs once per repository for a whole phase run: every blob is checked (HEAD), mounted
 * from its source repository on the same registry, or streamed; concurrent and repeated requests
 * for the same blob share one upload, so the app image, its tags and the cache image never send a
 * blob twice. Uploads can start as soon as a layer is built, before the manifest exists.
 */
export class BlobPusher {
  private readonly uploads = new Map<string, Promise<UploadResult>>();
  private readonly limit: Limiter;

  constructor(
    readonly client: RegistryClient,
    private readonly options: BlobPusherOptions = {},
  ) {
    this.limit = createLimiter(options.concurrency ?? 4);
  }

  /** The push-scoped repository handle for a reference (with pull scope on mount sources). */
  repository(ref: Reference, mountFrom: readonly string[] = []): Repository {
    return this.client.repository(ref, { push: true, mountFrom });
  }

  /** Ensures a blob is in the repository of `ref`; resolves with how it got there. */
  push(ref: Reference, blob: BlobToPush): Promise<UploadResult> {
    const sameRegistry = blob.source?.registry === ref.registry;
    // a blob read from this very repository is there already: its manifest references it
    if (sameRegistry && blob.source?.repository === ref.repository) {
      return Promise.resolve({ digest: blob.digest, size: blob.size, outcome: "exists" });
    }
    const mount = sameRegistry ? blob.source?.repository : undefined;
    const repo = this.repository(ref, mount ? [mount] : []);
    const key = `${repo.registry}/${repo.name}@${blob.digest}`;
    let pending = this.uploads.get(key);
    if (!pending) {
      const onProgress = this.options.onProgress;
      pending = this.limit.run(() =>
        uploadBlob(repo, { digest: blob.digest, size: blob.size, selfHashed: blob.selfHashed === true, open: () => blob.open() }, {
          mountFrom: mount,
          onProgress: onProgress ? (sent) => onProgress({ digest: blob.digest, sent, total: blob.size }) : undefined,
        }),
      );
      this.uploads.set(key, pending);
      pending.catch(() => this.uploads.delete(key));
    }
    return pending;
  }
}

/** Options of {@link pushImage}. */
export interface PushOptions extends BlobPusherOptions {
  /** A pusher shared with earlier uploads of this run (else a private one is used). */
  readonly pusher?: BlobPusher;
  /** Called once per layer with how it reached the registry. */
  readonly onLayer?: (layer: Layer, result: UploadResult) => void;
}

/** Result of {@link pushImage}: the manifest digest, size and media type. */
export interface PushResult {
  readonly digest: string;
  readonly size: number;
  readonly mediaType: string;
}

/**
 * Pushes an image under one or more names: blobs once per repository through a {@link BlobPusher},
 * then the manifest once per name. Every name is attempted; failures are reported together.
 */
export async function pushImage(client: RegistryClient, image: Image, refs: readonly Reference[], options: PushOptions = {}): Promise<PushResult> {
  const [manifestInfo, configInfo, layers] = await Promise.all([image.manifest(), image.config(), image.layers()]);
  const pusher = options.pusher ?? new BlobPusher(client, options);
  const repos = new Map<string, Reference>();
  for (const ref of refs) repos.set(`${ref.registry}/${ref.repository}`, ref);
  for (const ref of repos.values()) {
    await Promise.all([
      ...layers.map(async (layer) => {
        const result = await pusher.push(ref, layer);
        options.onLayer?.(layer, result);
      }),
      pusher.push(ref, { digest: configInfo.digest, size: configInfo.raw.length, open: () => Promise.resolve(Readable.from([configInfo.raw])) }),
    ]);
  }
  const failures: string[] = [];
  let firstError: unknown;
  for (const ref of refs) {
    try {
      await putManifest(client.repository(ref, { push: true }), ref.digest ?? ref.tag ?? "latest", manifestInfo.raw, manifestInfo.mediaType);
    } catch (err) {
      failures.push(ref.original);
      firstError ??= err;
    }
  }
  if (firstError !== undefined) throw new PushError(failures, firstError);
  return { digest: manifestInfo.digest, size: manifestInfo.raw.length, mediaType: manifestInfo.mediaType };
}

/** Saving failed for some names. */
export class PushError extends Error {
  override name = "PushError";
  constructor(
    readonly failed: readonly string[],
    override readonly cause: unknown,
  ) {
    super(`failed to write image to the following tags: [${failed.join(" ")}]: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}
