import { type ConfigInfo, type Descriptor, type History, type Image, type ImageConfig, type Layer, type Manifest, type ManifestInfo } from "./types.js";
import { MediaType } from "../oci/media-types.js";
import { sha256Digest } from "../oci/digest.js";

/** The media-type family of an image: every descriptor must agree with the manifest type. */
export type MediaFamily = "oci" | "docker";

/** The family of a manifest media type (anything that is not Docker schema 2 is OCI). */
export function familyOf(manifestMediaType: string): MediaFamily {
  return manifestMediaType === MediaType.DockerManifest ? "docker" : "oci";
}

/** A layer's media type in the given family (the bytes are the same; only the label differs). */
export function layerMediaType(mediaType: string, family: MediaFamily): string {
  if (mediaType === MediaType.OciLayerGzip || mediaType === MediaType.DockerLayerGzip) {
    return family === "docker" ? MediaType.DockerLayerGzip : MediaType.OciLayerGzip;
  }
  if (mediaType === MediaType.OciLayer || mediaType === MediaType.DockerLayer) {
    return family === "docker" ? MediaType.DockerLayer : MediaType.OciLayer;
  }
  return mediaType;
}

/**
 * An image being assembled in memory: a config object and a list of layers (base layers first).
 * Manifest and config bytes are computed on demand, with media types of the base image's family so
 * Docker and OCI descriptors are never mixed.
 */
export class MutableImage implements Image {
  private readonly entries: Layer[];
  /** The config being edited; `rootfs.diff_ids` is rewritten from the layers on serialisation. */
  private readonly cfg: ImageConfig;

  constructor(config: ImageConfig, layers: readonly Layer[], readonly family: MediaFamily) {
    this.cfg = structuredClone(config);
    this.entries = [...layers];
  }

  /** A mutable copy of an existing image (its config, layers and media-type family). */
  static async from(base: Image): Promise<MutableImage> {
    const [{ mediaType }, { config }, layers] = await Promise.all([base.manifest(), base.config(), base.layers()]);
    return new MutableImage(config, layers, familyOf(mediaType));
  }

  /** A new image with no base (the cache image): OCI types, `os` set, empty rootfs and history. */
  static scratch(os: string, architecture: string): MutableImage {
    return new MutableImage({ architecture, os, rootfs: { type: "layers", diff_ids: [] }, config: {}, history: [] }, [], "oci");
  }

  /** The config object to edit in place. */
  get editableConfig(): ImageConfig {
    return this.cfg;
  }

  /** The layers, base layers first. */
  get layerList(): readonly Layer[] {
    return [...this.entries];
  }

  /** Appends a layer and, when given, its history entry. */
  addLayer(layer: Layer, history?: History): void {
    this.entries.push(layer);
    if (history) (this.cfg.history ??= []).push(history);
  }

  /** Replaces the whole layer list (history is the caller's business). */
  setLayers(layers: readonly Layer[]): void {
    this.entries.splice(0, this.entries.length, ...layers);
  }

  /** The image's labels (a copy). */
  labels(): Record<string, string> {
    return { ...(this.cfg.config?.Labels ?? {}) };
  }

  setLabel(key: string, value: string): void {
    const c = (this.cfg.config ??= {});
    c.Labels = { ...(c.Labels ?? {}), [key]: value };
  }

  removeLabel(key: string): void {
    const labels = this.cfg.config?.Labels;
    if (labels) delete labels[key];
  }

  /** Sets `KEY=value` in Env, replacing an existing entry in place or appending. */
  setEnv(key: string, value: string): void {
    const c = (this.cfg.config ??= {});
    const env = [...(c.Env ?? [])];
    const i = env.findIndex((e) => e.split("=")[0] === key);
    if (i >= 0) env[i] = `${key}=${value}`;
    else env.push(`${key}=${value}`);
    c.Env = env;
  }

  /** The value of an Env entry, if set. */
  env(key: string): string | undefined {
    const entry = (this.cfg.config?.Env ?? []).find((e) => e.split("=")[0] === key);
    return entry === undefined ? undefined : entry.slice(key.length + 1);
  }

  private configBytes(): Buffer {
    this.cfg.rootfs = { ...this.cfg.rootfs, type: "layers", diff_ids: this.entries.map((l) => l.diffId) };
    return Buffer.from(JSON.stringify(this.cfg));
  }

  config(): Promise<ConfigInfo> {
    const raw = this.configBytes();
    return Promise.resolve({ config: structuredClone(this.cfg), raw, digest: sha256Digest(raw) });
  }

  manifest(): Promise<ManifestInfo> {
    const configRaw = this.configBytes();
    const docker = this.family === "docker";
    const mediaType = docker ? MediaType.DockerManifest : MediaType.OciManifest;
    const layers: Descriptor[] = this.entries.map((layer) => ({
      mediaType: layerMediaType(layer.mediaType, this.family),
      size: layer.size,
      digest: layer.digest,
    }));
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType,
      config: { mediaType: docker ? MediaType.DockerConfig : MediaType.OciConfig, size: configRaw.length, digest: sha256Digest(configRaw) },
      layers,
    };
    const raw = Buffer.from(JSON.stringify(manifest));
    return Promise.resolve({ manifest, raw, digest: sha256Digest(raw), mediaType });
  }

  layers(): Promise<Layer[]> {
    return Promise.resolve([...this.entries]);
  }
}
