// What is a layer in `<layers>/<bp>/` (contract §3.8): the one reading of a buildpack directory that
// the restorer and the exporter share.
import { readdir } from "node:fs/promises";
import { compareGoStrings } from "./go-json.js";

/** Files in a buildpack directory that are not layers. */
const NOT_LAYERS = new Set(["store.toml", "launch.toml", "build.toml"]);

/** A layer of a buildpack directory: a sub-directory and/or a `<name>.toml` file. */
export interface BuildpackDirLayer {
  readonly name: string;
  /** `<name>/` exists (else the layer is only its `<name>.toml`). */
  readonly hasDir: boolean;
}

/**
 * The layers in a buildpack directory: every sub-directory plus every regular `<name>.toml` file
 * (except store.toml, launch.toml and build.toml), sorted by name in byte order as Go sorts them.
 * A directory that cannot be read has none.
 */
export async function buildpackDirLayers(bpDir: string): Promise<BuildpackDirLayer[]> {
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
  return [...names].sort(compareGoStrings).map((name) => ({ name, hasDir: dirs.has(name) }));
}
