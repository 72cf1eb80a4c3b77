// The lifecycle's fixed timestamp: image `created` and history times without SOURCE_DATE_EPOCH, the
// mtime of every layer entry, the cache image's creation time (Go's archive.NormalizedModTime).

/** 1980-01-01T00:00:01Z, as image configs write it. */
export const NORMALIZED_TIME = "1980-01-01T00:00:01Z";

/** {@link NORMALIZED_TIME} in whole seconds since the epoch, as tar headers write it. */
export const NORMALIZED_MTIME = Date.parse(NORMALIZED_TIME) / 1000;
