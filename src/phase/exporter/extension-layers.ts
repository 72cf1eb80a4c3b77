// The run image as extended by Dockerfile extensions (daemon-and-extensions.md §2): the extender
// leaves a sparse OCI layout at `<extended>/run/<name>/` holding the extended image's manifest and
// config and only the blobs of the layers the extensions added.
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { isEnoent } from "../../image/layout-blobs.js";
import { LayoutImage, readLayoutIndex } from "../../image/layout-image.js";
import type { History, ImageConfig } from "../../image/types.js";
import type { LayerSource } from "../../layers/layer-source.js";
import { tarCopySource } from "../../layers/tar-copy-source.js";

/** One layer an extension added: its id in logs, its history entry and its contents. */
export interface ExtensionLayer {
  /** `<extension id>:extended-layer-<index in the extended image>`. */
  readonly id: string;
  /** The extended image's history entry for the layer, as it is. */
  readonly history: History;
  readonly source: LayerSource;
}

/** The extended run image: its config and the layers the extensions added, in order. */
export interface ExtendedRunImage {
  readonly path: string;
  readonly config: ImageConfig;
  readonly layers: readonly ExtensionLayer[];
}

/** The extended layout is unusable: missing pieces, several images, an unreadable manifest or config. */
export class ExtendedImageError extends Error {
  override name = "ExtendedImageError";
}

/** What the extender writes into a history entry (lifecycle `layers.ExtensionLayerName`). */
const EXTENSION_CREATED_BY = /^Layer: '.*', Created by extension: (\S+)$/s;

/** The extension that made a layer, from its history entry (`from extensions` when it does not say). */
export function extensionIdOf(history: History | undefined): string {
  return EXTENSION_CREATED_BY.exec(history?.created_by ?? "")?.[1] ?? "from extensions";
}

/** History entries of the non-empty layers, so that entry i describes layer i. */
function layerHistory(config: ImageConfig): History[] {
  return (config.history ?? []).filter((h) => !h.empty_layer);
}

/**
 * Reads `<extendedDir>/run`: undefined when it is absent or empty; otherwise it must hold exactly one
 * layout with exactly one image, whose manifest and config are read verified. The layers whose
 * blobs are present are the extensions' (the run image's own blobs are left out of the layout);
 * their contents are verified against their digests as they are read.
 */
export async function readExtendedRunImage(extendedDir: string): Promise<ExtendedRunImage | undefined> {
  const parent = join(extendedDir, "run");
  let names: string[];
  try {
    names = await readdir(parent);
  } catch (err) {
    if (isEnoent(err)) return undefined;
    throw err;
  }
  if (names.length === 0) return undefined;
  if (names.length > 1) throw new ExtendedImageError(`expected directory "${parent}" to have only 1 item; found ${names.length}`);
  const path = join(parent, names[0] ?? "");
  const index = await readLayoutIndex(path);
  if (index.manifests.length !== 1) {
    throw new ExtendedImageError(`expected image index at "${path}" to have only 1 manifest; found ${index.manifests.length}`);
  }
  const image = new LayoutImage(path, { digest: index.manifests[0]?.digest });
  const [{ config }, layers] = await Promise.all([image.config(), image.layers()]);
  const history = layerHistory(config);
  const added: ExtensionLayer[] = [];
  for (const [index, layer] of layers.entries()) {
    if (!(await layer.present())) continue;
    const entry = history[index] ?? {};
    added.push({ id: `${extensionIdOf(entry)}:extended-layer-${index}`, history: entry, source: tarCopySource(() => layer.open()) });
  }
  return { path, config, layers: added };
}
