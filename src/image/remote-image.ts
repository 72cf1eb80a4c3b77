import type { Readable } from "node:stream";
import { openBlob, readBlob } from "../registry/blobs.js";
import type { RegistryClient, Repository } from "../registry/client.js";
import { RegistryError } from "../registry/errors.js";
import { getManifest, type FetchedManifest } from "../registry/manifests.js";
import type { Reference } from "../registry/reference.js";
import type { RetryPolicy } from "../registry/retry.js";
import { defaultPlatform, selectPlatform, type PlatformSelector } from "./platform.js";
import { ImageConfigSchema, IndexSchema, ManifestSchema, type ConfigInfo, type Layer, type ManifestInfo } from "./types.js";
import { uncompressedStream } from "./compression.js";
import { parseJson } from "./json.js";
import type { StoredImage } from "./store.js";
import { isIndexMediaType } from "../oci/media-types.js";

/** Largest image config we read. */
export const CONFIG_LIMIT = 32 * 1024 * 1024;

/** Options of {@link RemoteImage}. */
export interface RemoteImageOptions {
  /** Platform used when the reference names an index (default `linux/<host arch>`). */
  readonly platform?: PlatformSelector;
  /** Retry policy of this image's requests (NO_RETRY when `openRemoteImage` owns retries). */
  readonly retry?: RetryPolicy;
}

/** Whether an error means "the image does not exist" (404 / MANIFEST_UNKNOWN / NAME_UNKNOWN). */
export function isNotFound(err: unknown): boolean {
  return err instanceof RegistryError && (err.status === 404 || err.codes.some((c) => c === "MANIFEST_UNKNOWN" || c === "NAME_UNKNOWN"));
}

/** A layer stored in a registry repository. */
export class RemoteLayer implements Layer {
  constructor(
    private readonly repo: Repository,
    readonly digest: string,
    readonly diffId: string,
    readonly size: number,
    readonly mediaType: string,
  ) {}

  get source(): { registry: string; repository: string } {
    return { registry: this.repo.registry, repository: this.repo.name };
  }

  open(): Promise<Readable> {
    return Promise.resolve(openBlob(this.repo, this.digest, { size: this.size }));
  }

  uncompressed(): Promise<Readable> {
    return uncompressedStream(this.mediaType, this.digest, () => this.open());
  }
}

/** An image in a registry, read lazily; an index is resolved to one platform's manifest. */
export class RemoteImage implements StoredImage {
  private manifestInfo: Promise<ManifestInfo> | undefined;
  private configInfo: Promise<ConfigInfo> | undefined;
  readonly repo: Repository;

  constructor(
    client: RegistryClient,
    readonly ref: Reference,
    private readonly options: RemoteImageOptions = {},
  ) {
    this.repo = client.repository(ref, { retry: options.retry });
  }

  /** The reference as it was written. */
  get name(): string {
    return this.ref.original;
  }

  manifest(): Promise<ManifestInfo> {
    this.manifestInfo ??= this.fetchManifest();
    return this.manifestInfo;
  }

  private async fetchManifest(): Promise<ManifestInfo> {
    let fetched: FetchedManifest = await getManifest(this.repo, this.ref.identifier, this.options.retry);
    if (isIndexMediaType(fetched.mediaType)) {
      const index = parseJson(IndexSchema, fetched.raw, `index of ${this.ref.name}`);
      const want = this.options.platform ?? defaultPlatform();
      const child = selectPlatform(index.manifests, want);
      if (!child) {
        throw new Error(`image ${this.ref.name} has no manifest for platform ${want.os}/${want.architecture ?? "*"}`);
      }
      fetched = await getManifest(this.repo, child.digest, this.options.retry);
    }
    const manifest = parseJson(ManifestSchema, fetched.raw, `manifest of ${this.ref.name}`);
    return { manifest, raw: fetched.raw, digest: fetched.digest, mediaType: fetched.mediaType };
  }

  config(): Promise<ConfigInfo> {
    this.configInfo ??= (async () => {
      const { manifest } = await this.manifest();
      const raw = await readBlob(this.repo, manifest.config.digest, { size: manifest.config.size, limit: CONFIG_LIMIT });
      return { config: parseJson(ImageConfigSchema, raw, `config of ${this.ref.name}`), raw, digest: manifest.config.digest };
    })();
    return this.configInfo;
  }

  async layers(): Promise<Layer[]> {
    const [{ manifest }, { config }] = await Promise.all([this.manifest(), this.config()]);
    const diffIds = config.rootfs.diff_ids;
    if (diffIds.length !== manifest.layers.length) {
      throw new Error(`image ${this.ref.name} has ${manifest.layers.length} layers but ${diffIds.length} diff_ids`);
    }
    return manifest.layers.map((d, i) => new RemoteLayer(this.repo, d.digest, diffIds[i] ?? "", d.size, d.mediaType));
  }

  /** Whether the image exists (false on 404, other errors thrown). */
  async exists(): Promise<boolean> {
    try {
      await this.manifest();
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /** `registry/repo@sha256:…` of the (platform-resolved) manifest. */
  async identifier(): Promise<string> {
    return this.ref.withDigest((await this.manifest()).digest).name;
  }
}
