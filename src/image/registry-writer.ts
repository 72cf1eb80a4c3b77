import { Readable } from "node:stream";
import { layerSubject, NO_TRANSFER, type ProgressReporter, type Transfer } from "../log/progress.js";
import type { RegistryClient, Repository } from "../registry/client.js";
import { putManifest } from "../registry/manifests.js";
import type { Reference } from "../registry/reference.js";
import { uploadBlob, type UploadResult } from "../registry/upload.js";
import { createLimiter, type Limiter } from "../util/limiter.js";
import type { Image, Layer } from "./types.js";

/** Options of {@link BlobPusher}. */
export interface BlobPusherOptions {
  /** Blob uploads running at once (default 4). */
  readonly concurrency?: number;
  /** Prints progress lines for uploads that take long (`Uploading layer '<label>': …`). */
  readonly progress?: ProgressReporter;
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
  /** What progress lines call it: the layer's id (`acme/node:deps`); else its digest. */
  readonly label?: string;
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
      const progress = this.options.progress;
      pending = this.limit.run(async () => {
        // watched from the first byte sent: existence checks and mounts move no layer bytes
        let transfer: Transfer | undefined;
        const onProgress = (sent: number): void => {
          transfer ??= progress?.start("Uploading", layerSubject(blob.label ?? blob.digest), blob.size) ?? NO_TRANSFER;
          transfer.set(sent);
        };
        try {
          return await uploadBlob(repo, { digest: blob.digest, size: blob.size, selfHashed: blob.selfHashed === true, open: () => blob.open() }, {
            mountFrom: mount,
            onProgress,
          });
        } finally {
          transfer?.end();
        }
      });
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

/** What happened to one name of {@link pushImageNames}. */
export interface PushedName {
  readonly ref: Reference;
  /** Set when this name was not saved. */
  readonly error?: Error;
  /** The error happened while pushing the blobs of the name's repository (not its manifest). */
  readonly blobsFailed?: boolean;
}

/** Result of {@link pushImageNames}: the manifest digest, size and media type, and each name's fate. */
export interface PushNamesResult extends PushResult {
  readonly names: readonly PushedName[];
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * Pushes an image under one or more names: blobs once per repository through a {@link BlobPusher}
 * (repositories independently, so a repository the credentials cannot write fails only its own
 * names), then the manifest once per name. Every name is attempted; each name's error is returned.
 */
export async function pushImageNames(client: RegistryClient, image: Image, refs: readonly Reference[], options: PushOptions = {}): Promise<PushNamesResult> {
  const [manifestInfo, configInfo, layers] = await Promise.all([image.manifest(), image.config(), image.layers()]);
  const pusher = options.pusher ?? new BlobPusher(client, options);
  const repoKey = (ref: Reference) => `${ref.registry}/${ref.repository}`;
  const repos = new Map<string, Reference>();
  for (const ref of refs) if (!repos.has(repoKey(ref))) repos.set(repoKey(ref), ref);
  const blobFailures = new Map<string, Error>();
  await Promise.all(
    [...repos].map(async ([key, ref]) => {
      try {
        await Promise.all([
          ...layers.map(async (layer) => {
            const result = await pusher.push(ref, layer);
            options.onLayer?.(layer, result);
          }),
          pusher.push(ref, { digest: configInfo.digest, size: configInfo.raw.length, open: () => Promise.resolve(Readable.from([configInfo.raw])) }),
        ]);
      } catch (err) {
        blobFailures.set(key, asError(err));
      }
    }),
  );
  const names: PushedName[] = [];
  for (const ref of refs) {
    const blobError = blobFailures.get(repoKey(ref));
    if (blobError) {
      names.push({ ref, error: blobError, blobsFailed: true });
      continue;
    }
    try {
      await putManifest(client.repository(ref, { push: true }), ref.digest ?? ref.tag ?? "latest", manifestInfo.raw, manifestInfo.mediaType);
      names.push({ ref });
    } catch (err) {
      names.push({ ref, error: asError(err) });
    }
  }
  return { digest: manifestInfo.digest, size: manifestInfo.raw.length, mediaType: manifestInfo.mediaType, names };
}

/**
 * Like {@link pushImageNames}, but rejects when any name failed: with the blob error itself when a
 * repository's blobs could not be pushed, else with a PushError listing the names.
 */
export async function pushImage(client: RegistryClient, image: Image, refs: readonly Reference[], options: PushOptions = {}): Promise<PushResult> {
  const result = await pushImageNames(client, image, refs, options);
  const blobFailure = result.names.find((n) => n.blobsFailed);
  if (blobFailure?.error) throw blobFailure.error;
  const failed = result.names.filter((n) => n.error !== undefined);
  if (failed.length > 0) throw new PushError(failed.map((n) => ({ name: n.ref.original, cause: n.error ?? new Error("unknown") })));
  return { digest: result.digest, size: result.size, mediaType: result.mediaType };
}

/** Saving failed for some names (worded like imgutil's SaveError). */
export class PushError extends Error {
  override name = "PushError";
  constructor(readonly failures: readonly { readonly name: string; readonly cause: Error }[]) {
    super(`failed to write image to the following tags: ${failures.map((f) => `[${f.name}: ${f.cause.message}]`).join(",")}`, {
      cause: failures[0]?.cause,
    });
  }
}
