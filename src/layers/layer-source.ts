// The seam between "what goes into a layer" and "how a layer is tarred, hashed and compressed".
import type { TarEntry } from "./tar-entry.js";

/** Something that can list a layer's tar entries, in archive order, as often as asked. */
export interface LayerSource {
  /** Yields the entries; file contents are read later, while the archive is written. */
  entries(): AsyncIterable<TarEntry> | Iterable<TarEntry>;
  /** Set when the layer is one directory on disk (its ancestors, then its tree owned by `owner`). */
  readonly directory?: { readonly path: string; readonly owner: Owner };
}

/** Owner applied to a layer root and everything below it (`-uid`/`-gid`). */
export interface Owner {
  readonly uid: number;
  readonly gid: number;
}

/** diffID of the empty layer: 1024 zero bytes (a tar with no entries). */
export const EMPTY_LAYER_DIFF_ID = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

/** A source over a fixed list of entries. */
export function staticLayerSource(entries: readonly TarEntry[]): LayerSource {
  return { entries: () => entries };
}

/** The empty layer (its tar is two zero blocks; diffID {@link EMPTY_LAYER_DIFF_ID}). */
export function emptyLayerSource(): LayerSource {
  return staticLayerSource([]);
}
