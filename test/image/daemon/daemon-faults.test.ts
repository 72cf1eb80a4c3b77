import { mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { beforeAll, describe, expect, it } from "vitest";
import { VolumeCache } from "../../../src/cache/volume-cache.js";
import { DaemonStore } from "../../../src/image/daemon/daemon-store.js";
import { EngineClient } from "../../../src/image/daemon/engine-client.js";
import { DaemonError } from "../../../src/image/daemon/engine-errors.js";
import { FileLayer } from "../../../src/image/file-layer.js";
import { MutableImage } from "../../../src/image/mutable-image.js";
import type { Layer } from "../../../src/image/types.js";
import { MemoryLogger } from "../../../src/log/logger.js";
import {
  buildRunImage,
  copyIntoDaemon,
  expectNoLeakedProcesses,
  startPodmanService,
  usePodmanService,
  useTempDir,
  type BuiltImage,
  type PodmanService,
} from "../../harness/index.js";
import { committedLayers, tarLayer } from "./daemon-fixtures.js";

/** A layer whose content stream fails once `after` bytes were read. */
function failingLayer(layer: FileLayer, after: number): Layer {
  return {
    digest: layer.digest,
    diffId: layer.diffId,
    size: layer.size,
    mediaType: layer.mediaType,
    open: async () => {
      const source = await layer.open();
      let read = 0;
      async function* failing(): AsyncGenerator<Buffer> {
        for await (const chunk of source) {
          read += (chunk as Buffer).length;
          if (read >= after) throw new Error("disk read failed in the middle of the layer");
          yield chunk as Buffer;
        }
      }
      return Readable.from(failing());
    },
    uncompressed: () => layer.open(),
  };
}

async function tagsIn(service: PodmanService): Promise<string[]> {
  const { stdout } = await service.podman(["images", "--format", "{{.Repository}}:{{.Tag}}"]);
  return stdout.split("\n").filter((l) => l !== "");
}

describe("daemon faults during a save", () => {
  expectNoLeakedProcesses();
  const temp = useTempDir("daemon-faults");
  const podman = usePodmanService();
  const logger = new MemoryLogger();
  let run: BuiltImage;
  let big: FileLayer;
  const RUN = "localhost/test/run:1";

  beforeAll(async () => {
    run = await buildRunImage(join(temp(), "run"), { layers: [{ files: [{ path: "etc/motd", content: "run\n" }] }] });
    big = await tarLayer(join(temp(), "big"), [{ path: "big.bin", size: 64 * 1024 * 1024 }]);
    await copyIntoDaemon(podman(), run.ociReference, RUN);
  });

  it("a daemon killed in the middle of a load: one clear error, nothing tagged, the launch cache untouched", async () => {
    const service = await startPodmanService();
    const engine = await EngineClient.connect({ env: { DOCKER_HOST: service.dockerHost } });
    try {
      await copyIntoDaemon(service, run.ociReference, RUN);
      const cacheDir = join(temp(), "killed-cache");
      await mkdir(join(cacheDir, "committed"), { recursive: true });
      const store = new DaemonStore(engine, { launchCache: await VolumeCache.open(cacheDir), tempDir: temp() });
      const image = await MutableImage.from(await store.openBase(RUN, logger));
      image.addLayer(big, { created: "1980-01-01T00:00:01Z" });
      // kill the daemon once 8 MiB of the layer went out
      const watch = setInterval(() => {
        if (store.stats.layerBytesSent >= 8 * 1024 * 1024 && service.isRunning()) void service.kill();
      }, 1);

      const err = await store.save(image, ["localhost/test/killed:1"]).catch((e: unknown) => e);
      clearInterval(watch);

      expect(err).toBeInstanceOf(DaemonError);
      expect(err).toMatchObject({ code: "unreachable" });
      expect((err as Error).message).toMatch(
        new RegExp(`^loading image 'localhost/test/killed:1' into the Docker daemon at ${service.dockerHost.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: the connection to the Docker daemon at \\S+ failed: \\S`),
      );
      expect((err as Error).message).not.toContain("\n");
      expect(service.isRunning()).toBe(false);
      expect(store.stats.layerBytesSent).toBeGreaterThanOrEqual(8 * 1024 * 1024);
      expect(store.stats.layerBytesSent).toBeLessThan(big.size);
      // the storage, read with the CLI: the old image is there, the new name is not
      expect(await tagsIn(service)).toEqual([RUN]);
      expect(await committedLayers(cacheDir)).toEqual([]);
      expect(await readdir(join(cacheDir, "committed"))).toEqual([]);
    } finally {
      await engine.close();
      await service.stop();
    }
  });

  it("a load cut off by a failing layer source: the layer's error, nothing tagged, the daemon still serving", async () => {
    const engine = await EngineClient.connect({ env: { DOCKER_HOST: podman().dockerHost } });
    try {
      const store = new DaemonStore(engine, { tempDir: temp() });
      const image = await MutableImage.from(await store.openBase(RUN, logger));
      image.addLayer(failingLayer(big, 4 * 1024 * 1024), { created: "1980-01-01T00:00:01Z" });

      const err = await store.save(image, ["localhost/test/cut:1"]).catch((e: unknown) => e);

      expect((err as Error).message).toMatch(/^loading image 'localhost\/test\/cut:1' into the Docker daemon at unix:\/\/\S+: disk read failed in the middle of the layer$/);
      expect(store.stats.refusedLoads).toBe(0); // our failure, not the daemon's: no second load
      expect(await tagsIn(podman())).not.toContain("localhost/test/cut:1");
      expect(await store.open(RUN).exists()).toBe(true);
    } finally {
      await engine.close();
    }
  });

  it("a layer whose bytes do not match its diffID stops the load before the daemon stores it", async () => {
    const engine = await EngineClient.connect({ env: { DOCKER_HOST: podman().dockerHost } });
    try {
      const store = new DaemonStore(engine, { tempDir: temp() });
      const image = await MutableImage.from(await store.openBase(RUN, logger));
      const real = await tarLayer(join(temp(), "mismatch"), [{ path: "a.txt", content: "a" }]);
      const claimed = `sha256:${"1".repeat(64)}`;
      image.addLayer(new FileLayer(real.path, claimed, claimed, real.size, real.mediaType), { created: "1980-01-01T00:00:01Z" });

      const err = await store.save(image, ["localhost/test/mismatch:1"]).catch((e: unknown) => e);

      expect((err as Error).message).toBe(
        `loading image 'localhost/test/mismatch:1' into the Docker daemon at ${podman().dockerHost}: layer content does not match its diffID: expected ${claimed}, found ${real.diffId}`,
      );
      expect(store.stats.loads).toBe(1);
      expect(await tagsIn(podman())).not.toContain("localhost/test/mismatch:1");
    } finally {
      await engine.close();
    }
  });

  it("a base image that vanished before the save: the fallback names the missing image, nothing is tagged", async () => {
    const engine = await EngineClient.connect({ env: { DOCKER_HOST: podman().dockerHost } });
    try {
      const layout = join(temp(), "vanishing");
      const vanishing = await buildRunImage(layout, { layers: [{ files: [{ path: "v.txt", content: "vanishing base\n" }] }] });
      await copyIntoDaemon(podman(), vanishing.ociReference, "localhost/test/vanishing:1");
      const store = new DaemonStore(engine, { tempDir: temp() });
      const image = await MutableImage.from(await store.openBase("localhost/test/vanishing:1", logger));
      await podman().podman(["rmi", "localhost/test/vanishing:1"]);

      const err = await store.save(image, ["localhost/test/orphan:1"]).catch((e: unknown) => e);

      expect(err).toMatchObject({ code: "not-found" });
      expect((err as Error).message).toMatch(/^saving layers of image [0-9a-f]{12} from the daemon: image sha256:[0-9a-f]{64} is no longer in the daemon$/);
      expect(store.stats).toMatchObject({ loads: 1, refusedLoads: 1 });
      expect(await tagsIn(podman())).not.toContain("localhost/test/orphan:1");
    } finally {
      await engine.close();
    }
  });

});
