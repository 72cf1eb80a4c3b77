// Counters of what a daemon store moved, for tests and the `daemon` benchmark.

/** What a {@link DaemonStore} sent to and read from the daemon so far. */
export interface DaemonStats {
  /** Layer content bytes written into load archives (placeholders count 0). */
  layerBytesSent: number;
  /** Layers left out of load archives as zero-byte placeholders. */
  placeholdersSent: number;
  /** `POST /images/load` requests. */
  loads: number;
  /** Loads the daemon refused (each placeholder refusal is followed by one complete load). */
  refusedLoads: number;
  /** `GET /images/{name}/get` requests (partial saves). */
  imageSaves: number;
  /** Bytes read from image saves (the reading stops once the wanted layers were found). */
  saveBytesRead: number;
  /** Layers taken out of image saves. */
  layersFetched: number;
}

/** A zeroed set of counters. */
export function emptyDaemonStats(): DaemonStats {
  return { layerBytesSent: 0, placeholdersSent: 0, loads: 0, refusedLoads: 0, imageSaves: 0, saveBytesRead: 0, layersFetched: 0 };
}
