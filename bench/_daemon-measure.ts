// Measuring daemon saves for `npm run bench -- daemon`: a timed save with the store's counters
// (layer bytes sent, placeholders, loads, image saves requested), and the same image pushed with
// `skopeo copy oci:<layout>:<tag> docker-daemon:<name>` through the same API service for comparison.
//
// skopeo's docker-daemon transport reads DOCKER_HOST (or `--dest-daemon-host`): point it at the
// harness's podman service (`service.dockerHost`, unix or tcp; a tcp:// host goes as http://, since
// skopeo speaks TLS to tcp://) and run it with `service.env` so the
// podman CLI can inspect the result. skopeo always sends a complete docker-archive (every layer,
// uncompressed), so its time is the "full load" baseline; time it with the same image stored under
// a fresh name, and drop page caches or repeat runs to compare medians.
import { performance } from "node:perf_hooks";
import type { DaemonStats } from "../src/image/daemon/daemon-stats.js";
import type { DaemonStore } from "../src/image/daemon/daemon-store.js";
import type { SaveResult } from "../src/image/store.js";
import type { Image } from "../src/image/types.js";
import { runTool, skopeoDaemonHost, type PodmanService } from "../test/harness/index.js";

/** A save's duration and what the store moved during it. */
export interface DaemonSaveMeasurement {
  readonly ms: number;
  readonly result: SaveResult;
  /** Counters for this save alone. */
  readonly stats: DaemonStats;
}

/** The difference of two counter snapshots. */
export function statsDelta(after: DaemonStats, before: DaemonStats): DaemonStats {
  return {
    layerBytesSent: after.layerBytesSent - before.layerBytesSent,
    placeholdersSent: after.placeholdersSent - before.placeholdersSent,
    loads: after.loads - before.loads,
    refusedLoads: after.refusedLoads - before.refusedLoads,
    imageSaves: after.imageSaves - before.imageSaves,
    saveBytesRead: after.saveBytesRead - before.saveBytesRead,
    layersFetched: after.layersFetched - before.layersFetched,
  };
}

/** Saves `image` under `names` and reports how long it took and what was sent. */
export async function measureDaemonSave(store: DaemonStore, image: Image, names: readonly string[]): Promise<DaemonSaveMeasurement> {
  const before = { ...store.stats };
  const start = performance.now();
  const result = await store.save(image, names);
  return { ms: performance.now() - start, result, stats: statsDelta(store.stats, before) };
}

/** Times `skopeo copy <source> docker-daemon:<name>` through the service's API (the full-load baseline). */
export async function measureSkopeoCopy(service: PodmanService, source: string, name: string): Promise<number> {
  const start = performance.now();
  await runTool("skopeo", ["--insecure-policy", "copy", "--quiet", "--dest-daemon-host", skopeoDaemonHost(service.dockerHost), source, `docker-daemon:${name}`], {
    env: service.env,
    timeoutMs: 600_000,
  });
  return performance.now() - start;
}
