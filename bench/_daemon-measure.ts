// Measuring daemon-mode runs for `npm run bench -- daemon`: what the engine proxy saw during a step
// (loads, layer bytes and placeholders in their archives, image saves asked for), and the baseline
// `skopeo copy oci:<layout>:<tag> docker-daemon:<name>` through the same proxy and service.
//
// skopeo's docker-daemon transport speaks TLS to tcp:// hosts, so the proxy is given to it as
// http://host:port; it runs with the service's environment so the podman CLI sees what it stored.
// skopeo always sends a complete docker-archive (every layer, uncompressed, plus legacy
// `<id>/layer.tar` links and `VERSION`/`json` files), so its time is the "full load" baseline: run it
// while the daemon holds none of those layers.
import { layerEntries, loadLayerBytes, type EngineProxy } from "../test/harness/daemon/engine-proxy.js";
import { skopeoDaemonHost } from "../test/harness/daemon/load-image.js";
import type { PodmanService } from "../test/harness/daemon/podman-service.js";
import { timedRun, type TimedRun } from "./_exporter-measure.js";

/** What the engine proxy saw during one step. */
export interface Traffic {
  /** `POST /images/load` requests. */
  readonly loads: number;
  /** Bytes of layer entries in their archives (placeholders count 0). */
  readonly layerBytes: number;
  /** Request body bytes of the loads (layers, config, manifest, tar headers). */
  readonly bodyBytes: number;
  /** Zero-byte layer entries (layers the daemon already held). */
  readonly placeholders: number;
  /** `GET /images/…/get` requests. */
  readonly saves: number;
}

/** What `proxy` saw since its last reset. */
export function trafficOf(proxy: EngineProxy): Traffic {
  const loads = proxy.loads();
  return {
    loads: loads.length,
    layerBytes: loads.reduce((n, l) => n + loadLayerBytes(l), 0),
    bodyBytes: loads.reduce((n, l) => n + l.request.requestBytes, 0),
    placeholders: loads.reduce((n, l) => n + layerEntries(l).filter((e) => e.size === 0).length, 0),
    saves: proxy.imageSaves(),
  };
}

/** `skopeo copy oci:<layout>:<tag> docker-daemon:<name>` through `proxy` into `service`, under /usr/bin/time (report in `timeFile`). */
export function skopeoToDaemon(service: PodmanService, proxy: EngineProxy, source: string, name: string, timeFile: string): Promise<TimedRun> {
  return timedRun("skopeo", ["--insecure-policy", "copy", "-q", "--dest-daemon-host", skopeoDaemonHost(proxy.dockerHost), source, `docker-daemon:${name}`], service.env, timeFile);
}
