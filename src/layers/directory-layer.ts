// Directory layers (buildpack layers, config, SBOM): the lifecycle's `Factory.DirLayer`.
import { absPath, ancestorEntries, walkEntries } from "./fs-entries.js";
import type { LayerSource, Owner } from "./layer-source.js";
import type { TarEntry } from "./tar-entry.js";

/**
 * A layer of `dir`: its ancestors (real owners), then a depth-first walk of `dir` itself whose
 * entries all get `owner` — e.g. `/layers`, `/layers/acme_node`, `/layers/acme_node/node`, ….
 */
export function directoryLayerSource(dir: string, owner: Owner): LayerSource {
  const root = absPath(dir);
  return {
    directory: { path: root.toString("utf8"), owner },
    async *entries(): AsyncGenerator<TarEntry, void, undefined> {
      yield* await ancestorEntries(root);
      yield* walkEntries(root, owner);
    },
  };
}
