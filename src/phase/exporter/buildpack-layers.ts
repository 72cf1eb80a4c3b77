import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { readLayerContentMetadata, type LayerContentReadResult } from "../../platform/files/layer-content-metadata.js";
import { compareGoStrings } from "../../platform/files/go-json.js";
import { buildpackDirName } from "../../platform/files/layer-names.js";

/** Files in a buildpack directory that are not layers. */
const NOT_LAYERS = new Set(["store.toml", "launch.toml", "build.toml"]);

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
 * The layers of one buildpack (contract §3.8): every sub-directory plus every `<name>.toml` without
 * a directory (except store/launch/build.toml), sorted by name in byte order.
 */
export async function findBuildpackLayers(layersDir: string, buildpackId: string): Promise<FoundLayer[]> {
  const bpDir = join(layersDir, buildpackDirName(buildpackId));
  let entries;
  try {
    entries = await readdir(bpDir, { withFileTypes: true });
  } catch {
    return [];
  }
  const dirs = new Set(entries.filter((e) => e.isDirectory()).map((e) => e.name));
  const names = new Set(dirs);
  for (const e of entries) {
    if (e.isFile() && e.name.endsWith(".toml") && !NOT_LAYERS.has(e.name)) names.add(e.name.slice(0, -".toml".length));
  }
  const sorted = [...names].sort(compareGoStrings);
  return Promise.all(
    sorted.map(async (name) => ({
      name,
      id: `${buildpackId}:${name}`,
      ...(dirs.has(name) ? { dir: join(bpDir, name) } : {}),
      content: await readLayerContentMetadata(join(bpDir, `${name}.toml`)),
    })),
  );
}
