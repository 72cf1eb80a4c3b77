import type { Readable } from "node:stream";

/**
 * What the daemon store needs of the launch cache (`-launch-cache`): a directory of layer tars keyed
 * by diffID, staged during a save and committed after it (the volume cache's format, contract
 * §5.5). The phases pass a VolumeCache; the daemon code does not depend on the cache module.
 */
export interface LayerTarCache {
  /** Where this run's tars are staged before the commit. */
  readonly stagingDir: string;
  /** Whether the committed cache holds the layer. */
  hasLayer(diffId: string): Promise<boolean>;
  /** Path of a committed layer tar. */
  retrieveLayerFile(diffId: string): Promise<string>;
  /** A committed layer tar as a stream. */
  retrieveLayer(diffId: string): Promise<Readable>;
  /** Stages a tar file: `link` hard-links when possible, `move` renames when possible, else copies. */
  addLayerFile(tarPath: string, diffId: string, opts?: { transfer?: "copy" | "link" | "move" }): Promise<void>;
  /** Stages a tar from a stream, checked against its diffID. */
  addLayerStream(input: Readable, diffId: string): Promise<void>;
  /** Carries a committed tar over into staging. */
  reuseLayer(diffId: string): Promise<void>;
  /** Makes the staged tars the committed cache. */
  commit(): Promise<void>;
}
