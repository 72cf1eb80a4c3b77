import { join } from "node:path";
import { readLayerContentMetadata, type LayerContentReadResult } from "../../platform/files/layer-content-metadata.js";
import { buildpackDirLayers } from "../../platform/files/buildpack-dir.js";
import { buildpackDirName } from "../../platform/files/layer-names.js";

/** A layer found in `<layers>/<bp>/`: a directory and/or a `<name>.toml`. */
export interface FoundLayer {
  readonly name: string;
  /** `<bp-id>:<name>`, the layer's ID in logs and errors. */
  readonly id: string;
  /** The layer directory, when it exists. */
  readonly dir?: string;
  /** `<name>.toml`, parsed (a missing file means all flags false). */
  readonly content: LayerContentReadResult;
}

/**
 * The layers of one buildpack (contract §3.8, {@link buildpackDirLayers}) with their parsed
 * `<name>.toml`, in byte order.
 */
export async function findBuildpackLayers(layersDir: string, buildpackId: string): Promise<FoundLayer[]> {
  const bpDir = join(layersDir, buildpackDirName(buildpackId));
  return Promise.all(
    (await buildpackDirLayers(bpDir)).map(async ({ name, hasDir }) => ({
      name,
      id: `${buildpackId}:${name}`,
      ...(hasDir ? { dir: join(bpDir, name) } : {}),
      content: await readLayerContentMetadata(join(bpDir, `${name}.toml`)),
    })),
  );
}
