import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { z } from "zod";
import { MANIFEST_LIMIT } from "../registry/manifests.js";
import { uncompressedStream } from "./compression.js";
import { parseJson } from "./json.js";
import { blobSize, isEnoent, isLayoutNotFound, LayoutError, openLayoutBlob, readLayoutBlob } from "./layout-blobs.js";
import { formatLayoutIdentifier, parseLayoutIdentifier } from "./layout-path.js";
import { defaultPlatform, selectPlatform, type PlatformSelector } from "./platform.js";
import type { StoredImage } from "./store.js";
import { ImageConfigSchema, IndexSchema, ManifestSchema, type ConfigInfo, type ImageIndex, type Layer, type ManifestInfo } from "./types.js";
import { isIndexMediaType, manifestMediaType } from "../oci/media-types.js";

/** Largest image config read from a layout. */
const CONFIG_LIMIT = 32 * 1024 * 1024;
/** How deep nested indexes are followed. */
const MAX_INDEX_DEPTH = 4;

/** The annotation naming an image in a layout's `index.json`. */
export const REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name";

const OciLayoutSchema = z.object({ imageLayoutVersion: z.string() }).loose();

/** Options of {@link LayoutImage}. */
export interface LayoutImageOptions {
  /** Select the `index.json` entry whose `org.opencontainers.image.ref.name` is this. */
  readonly refName?: string;
  /** Otherwise select the manifest (or index) with this digest. */
  readonly digest?: string;
  /** Platform used when the selection is an index (default `linux/<host arch>`). */
  readonly platform?: PlatformSelector;
  /** The name the image was opened by (default: the layout path). */
  readonly name?: string;
}

/** Reads and validates a layout's `oci-layout` and `index.json`; a missing layout is a "not found" LayoutError. */
export async function readLayoutIndex(layoutPath: string): Promise<ImageIndex> {
  const read = async (name: string): Promise<Buffer> => {
    try {
      return await readFile(join(layoutPath, name));
    } catch (err) {
      if (isEnoent(err)) throw new LayoutError(`no OCI layout at ${layoutPath}: ${name} is missing`, true);
      throw err;
    }
  };
  const marker = parseJson(OciLayoutSchema, await read("oci-layout"), `oci-layout of ${layoutPath}`);
  if (!marker.imageLayoutVersion.startsWith("1.")) {
    throw new LayoutError(`OCI layout ${layoutPath} has unsupported imageLayoutVersion ${marker.imageLayoutVersion}`);
  }
  return parseJson(IndexSchema, await read("index.json"), `index.json of ${layoutPath}`);
}

/** A layer whose blob lives in an OCI layout. */
export class LayoutLayer implements Layer {
  constructor(
    readonly layoutPath: string,
    readonly digest: string,
    readonly diffId: string,
    readonly size: number,
    readonly mediaType: string,
  ) {}

  /** Whether the blob is present (a sparse layout holds manifests and configs without layers). */
  async present(): Promise<boolean> {
    return (await blobSize(this.layoutPath, this.digest)) !== undefined;
  }

  open(): Promise<Readable> {
    return openLayoutBlob(this.layoutPath, this.digest, this.size);
  }

  uncompressed(): Promise<Readable> {
    return uncompressedStream(this.mediaType, this.digest, () => this.open());
  }
}

interface Candidate {
  readonly digest: string;
  readonly size?: number;
  readonly mediaType?: string;
}

/**
 * An image in an OCI image layout directory, read lazily; every blob is verified against its
 * descriptor, and an index is resolved to one platform's manifest.
 */
export class LayoutImage implements StoredImage {
  private manifestInfo: Promise<ManifestInfo> | undefined;
  private configInfo: Promise<ConfigInfo> | undefined;

  constructor(
    readonly path: string,
    private readonly options: LayoutImageOptions = {},
  ) {}

  /** The name it was opened by (a reference or an identifier), else the layout path. */
  get name(): string {
    return this.options.name ?? this.path;
  }

  /** Opens the image named by a lifecycle layout identifier (`<path>@sha256:<hex>`, or a bare path). */
  static fromIdentifier(identifier: string, options: Omit<LayoutImageOptions, "digest"> = {}): LayoutImage {
    const { path, digest } = parseLayoutIdentifier(identifier);
    return new LayoutImage(path, { name: identifier, ...options, digest });
  }

  manifest(): Promise<ManifestInfo> {
    this.manifestInfo ??= this.resolveManifest();
    return this.manifestInfo;
  }

  private async pickEntry(): Promise<Candidate> {
    const index = await readLayoutIndex(this.path);
    const { refName, digest } = this.options;
    if (refName !== undefined) {
      const named = index.manifests.filter((m) => m.annotations?.[REF_NAME_ANNOTATION] === refName);
      const entry = named[named.length - 1];
      if (!entry) throw new LayoutError(`image "${refName}" not found in OCI layout ${this.path}`, true);
      return entry;
    }
    if (digest !== undefined) {
      const entry = index.manifests.find((m) => m.digest === digest);
      if (entry) return entry;
      // a platform manifest below a nested index is addressed by its blob
      if ((await blobSize(this.path, digest)) !== undefined) return { digest };
      throw new LayoutError(`image ${digest} not found in OCI layout ${this.path}`, true);
    }
    const want = this.options.platform ?? defaultPlatform();
    const entry = index.manifests.length > 1 ? (selectPlatform(index.manifests, want) ?? index.manifests[0]) : index.manifests[0];
    if (!entry) throw new LayoutError(`OCI layout ${this.path} holds no images`, true);
    return entry;
  }

  private async resolveManifest(): Promise<ManifestInfo> {
    let candidate = await this.pickEntry();
    for (let depth = 0; ; depth++) {
      const raw = await readLayoutBlob(this.path, candidate.digest, candidate.size, MANIFEST_LIMIT);
      const mediaType = manifestMediaType(raw, candidate.mediaType);
      if (!isIndexMediaType(mediaType)) {
        const manifest = parseJson(ManifestSchema, raw, `manifest ${candidate.digest} in OCI layout ${this.path}`);
        return { manifest, raw, digest: candidate.digest, mediaType };
      }
      if (depth >= MAX_INDEX_DEPTH) throw new LayoutError(`OCI layout ${this.path}: indexes nested deeper than ${MAX_INDEX_DEPTH}`);
      const index = parseJson(IndexSchema, raw, `index ${candidate.digest} in OCI layout ${this.path}`);
      const want = this.options.platform ?? defaultPlatform();
      const child = selectPlatform(index.manifests, want);
      if (!child) {
        throw new LayoutError(
          `image in OCI layout ${this.path} has no manifest for platform ${want.os}/${want.architecture ?? "*"}`,
        );
      }
      candidate = child;
    }
  }

  config(): Promise<ConfigInfo> {
    this.configInfo ??= (async () => {
      const { manifest } = await this.manifest();
      const { digest, size } = manifest.config;
      const raw = await readLayoutBlob(this.path, digest, size, CONFIG_LIMIT);
      return { config: parseJson(ImageConfigSchema, raw, `config ${digest} in OCI layout ${this.path}`), raw, digest };
    })();
    return this.configInfo;
  }

  async layers(): Promise<LayoutLayer[]> {
    const [{ manifest }, { config }] = await Promise.all([this.manifest(), this.config()]);
    const diffIds = config.rootfs.diff_ids;
    if (diffIds.length !== manifest.layers.length) {
      throw new Error(`image in OCI layout ${this.path} has ${manifest.layers.length} layers but ${diffIds.length} diff_ids`);
    }
    return manifest.layers.map((d, i) => new LayoutLayer(this.path, d.digest, diffIds[i] ?? "", d.size, d.mediaType));
  }

  /** Whether the image exists (false when the layout, index.json or the selected name/digest is absent). */
  async exists(): Promise<boolean> {
    try {
      await this.manifest();
      return true;
    } catch (err) {
      if (isLayoutNotFound(err)) return false;
      throw err;
    }
  }

  /** `<path>@sha256:<hex>` of the (platform-resolved) manifest: the lifecycle's layout identifier. */
  async identifier(): Promise<string> {
    return formatLayoutIdentifier(this.path, (await this.manifest()).digest);
  }

  /** Whether the layout holds a blob (layers of a sparse layout are absent). */
  async hasBlob(digest: string): Promise<boolean> {
    return (await blobSize(this.path, digest)) !== undefined;
  }
}
