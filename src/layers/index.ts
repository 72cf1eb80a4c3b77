// Layer tarballs for the exporter: Go-identical tar bytes, layer sources, and the one-pass pipeline.
export { BLOCK_SIZE, blockPadding } from "./tar-entry.js";
export type { TarEntry, TarEntryType, TarPath } from "./tar-entry.js";
export { TarHeaderError, encodeTarHeader } from "./tar-header.js";
export { TAR_TRAILER_SIZE, TarContentError, tarChunks, tarStream } from "./tar-writer.js";
export type { TarWriteOptions } from "./tar-writer.js";
export { EMPTY_LAYER_DIFF_ID, emptyLayerSource, staticLayerSource } from "./layer-source.js";
export type { LayerSource, Owner } from "./layer-source.js";
export { directoryLayerSource } from "./directory-layer.js";
export { appSliceSources } from "./app-slices.js";
export type { SliceSpec } from "./app-slices.js";
export { BadPatternError, goMatch } from "./go-match.js";
export {
  InvalidProcessTypeError,
  LAUNCHER_PATH,
  PROCESS_DIR,
  launcherLayerSource,
  processTypesLayerSource,
  validateProcessType,
} from "./lifecycle-layers.js";
export { createLimiter, defaultLayerConcurrency } from "../util/limiter.js";
export type { Limiter } from "../util/limiter.js";
export { DEFAULT_GZIP_LEVEL, GZIP_OS_UNKNOWN, buildLayerBlob, diffIdOf, writeLayerTar } from "./pipeline.js";
export type { BuildLayerBlobOptions, DiffIdOptions, DiffIdResult, LayerBlob } from "./pipeline.js";
export { GZIP_BLOCK_SIZE, defaultGzipConcurrency, gzipHeader, gzipTrailer, parallelGzip } from "./parallel-gzip.js";
export type { ParallelGzipOptions } from "./parallel-gzip.js";
export { BlockWorkers, defaultBlockWorkers, sharedBlockWorkers } from "./block-workers.js";
export type { BlockHasher, BlockWorkersOptions, Slot } from "./block-workers.js";
