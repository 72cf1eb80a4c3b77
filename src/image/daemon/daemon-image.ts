// An image in the Docker daemon, read through the Engine API: inspect (ID, config, diffIDs) and
// history, turned into a config, a synthesized OCI manifest whose layers are the uncompressed tars
// (digest = diffID) and lazy layers, so phases use it like any other image.
import type { StoredImage } from "../store.js";
import { type ConfigInfo, type Layer, type Manifest, type ManifestInfo } from "../types.js";
import { DaemonLayer, type DaemonLayerReader } from "./daemon-layer.js";
import type { EngineClient } from "./engine-client.js";
import { DaemonError, isDaemonError } from "./engine-errors.js";
import { HistorySchema, InspectSchema, type HistoryResult, type InspectResult } from "./engine-schemas.js";
import { daemonName, imagePath } from "./image-names.js";
import { configFromInspect } from "./inspect-config.js";
import type { DaemonLayerIndex } from "./layer-index.js";
import { MediaType } from "../../oci/media-types.js";
import { sha256Digest } from "../../oci/digest.js";

/** What a DaemonImage needs from its store. */
export interface DaemonImageContext {
  readonly engine: EngineClient;
  readonly reader: DaemonLayerReader;
  /** Learns the layers of every image inspected. */
  readonly index: DaemonLayerIndex;
}

/** An image in the daemon, opened by name or ID; nothing is read until asked. */
export class DaemonImage implements StoredImage {
  private inspected?: Promise<InspectResult | undefined>;
  private configured?: Promise<ConfigInfo>;

  constructor(
    private readonly ctx: DaemonImageContext,
    readonly name: string,
  ) {}

  /** The inspect answer, or undefined when the daemon has no such image. */
  inspect(): Promise<InspectResult | undefined> {
    this.inspected ??= (async () => {
      const what = `inspecting image '${this.name}'`;
      try {
        const result = await this.ctx.engine.getJson(imagePath(daemonName(this.name), "/json"), InspectSchema, what);
        this.ctx.index.record(result.RootFS.Layers ?? []);
        return result;
      } catch (err) {
        if (isDaemonError(err, "not-found")) return undefined;
        throw err;
      }
    })();
    this.inspected.catch(() => undefined);
    return this.inspected;
  }

  private async found(): Promise<InspectResult> {
    const result = await this.inspect();
    if (!result) throw new DaemonError("not-found", `image '${this.name}' not found in the daemon`, 404);
    return result;
  }

  exists(): Promise<boolean> {
    return this.inspect().then((r) => r !== undefined);
  }

  /** The image ID `sha256:<hex>`. */
  async imageId(): Promise<string> {
    return (await this.found()).Id;
  }

  /** The image ID without `sha256:`, as analyzed.toml, labels and report.toml record it. */
  async identifier(): Promise<string> {
    return (await this.imageId()).slice("sha256:".length);
  }

  config(): Promise<ConfigInfo> {
    this.configured ??= (async () => {
      const inspect = await this.found();
      // by ID, so a name re-tagged meanwhile cannot mix two images
      let history: HistoryResult | undefined;
      try {
        history = await this.ctx.engine.getJson(imagePath(inspect.Id, "/history"), HistorySchema, `reading the history of image '${this.name}'`);
      } catch (err) {
        // podman 4.3 answers 500 (a nil pointer) for history entries without `created`; history is
        // only descriptive, so such an image gets blank entries, as one with mismatched history does
        if (!isDaemonError(err, "refused")) throw err;
      }
      const config = configFromInspect(inspect, history);
      const raw = Buffer.from(JSON.stringify(config));
      return { config, raw, digest: sha256Digest(raw) };
    })();
    this.configured.catch(() => undefined);
    return this.configured;
  }

  async manifest(): Promise<ManifestInfo> {
    const { raw: configRaw } = await this.config();
    const inspect = await this.found();
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, size: configRaw.length, digest: sha256Digest(configRaw) },
      layers: (inspect.RootFS.Layers ?? []).map((diffId) => ({ mediaType: MediaType.OciLayer, size: 0, digest: diffId })),
    };
    const raw = Buffer.from(JSON.stringify(manifest));
    return { manifest, raw, digest: sha256Digest(raw), mediaType: MediaType.OciManifest };
  }

  async layers(): Promise<Layer[]> {
    const inspect = await this.found();
    return (inspect.RootFS.Layers ?? []).map((diffId) => new DaemonLayer(diffId, inspect.Id, this.ctx.reader));
  }
}
