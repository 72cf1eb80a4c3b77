import { mkdir, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VolumeCache } from "../../../src/cache/volume-cache.js";
import type { DaemonLayer } from "../../../src/image/daemon/daemon-layer.js";
import { DaemonStore } from "../../../src/image/daemon/daemon-store.js";
import { EngineClient } from "../../../src/image/daemon/engine-client.js";
import { layersAbove } from "../../../src/image/daemon/launch-cache.js";
import type { FileLayer } from "../../../src/image/file-layer.js";
import { MutableImage } from "../../../src/image/mutable-image.js";
import { MemoryLogger } from "../../../src/log/logger.js";
import { busyboxLayer, buildRunImage, copyIntoDaemon, expectNoLeakedProcesses, usePodmanService, useTempDir } from "../../harness/index.js";
import { committedLayers, fileDigest, streamDigest, tarLayer } from "./daemon-fixtures.js";

describe("layers above the run image", () => {
  it("are those after the bottom run shared with the base (all of them without a base)", () => {
    const l = (d: string): { diffId: string } => ({ diffId: d });
    expect(layersAbove([l("a"), l("b"), l("c")], ["a", "b"])).toEqual([l("c")]);
    expect(layersAbove([l("a"), l("x"), l("c")], ["a", "b"])).toEqual([l("x"), l("c")]);
    expect(layersAbove([l("a"), l("b")], undefined)).toEqual([l("a"), l("b")]);
    expect(layersAbove([l("a"), l("b")], ["a", "b"])).toEqual([]);
  });
});

describe("the launch cache in daemon saves", () => {
  expectNoLeakedProcesses();
  const podman = usePodmanService();
  const temp = useTempDir("launch-cache");
  const logger = new MemoryLogger();
  let engine: EngineClient;
  let cacheDir: string;
  const RUN = "localhost/test/run:1";
  const PREVIOUS = "localhost/test/previous:1";
  let reusable: FileLayer;

  beforeAll(async () => {
    const run = await buildRunImage(join(temp(), "run"), { layers: [busyboxLayer(["sh", "cat"]), { files: [{ path: "etc/motd", content: "run\n" }] }] });
    await copyIntoDaemon(podman(), run.ociReference, RUN);
    engine = await EngineClient.connect({ env: { DOCKER_HOST: podman().dockerHost } });
    // a previous app image, saved without a launch cache: its layer is in the daemon only
    const store = new DaemonStore(engine, { tempDir: temp() });
    const previous = await MutableImage.from(await store.openBase(RUN, logger));
    reusable = await tarLayer(join(temp(), "previous"), [{ path: "layers/reused.txt", content: "reused from the previous image\n" }]);
    previous.addLayer(reusable, { created: "1980-01-01T00:00:01Z" });
    await store.save(previous, [PREVIOUS]);
    cacheDir = join(temp(), "launch-cache");
    await mkdir(cacheDir);
  });
  afterAll(async () => {
    await engine.close();
  });

  /** The previous image's reused layer, as the exporter gets it (a layer of the daemon image). */
  async function reusedLayer(store: DaemonStore): Promise<DaemonLayer> {
    const layers = await store.open(PREVIOUS).layers();
    const layer = layers.at(-1);
    if (!layer) throw new Error("previous image has no layers");
    return layer as DaemonLayer;
  }

  async function inodes(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const name of await readdir(join(cacheDir, "committed"))) out.set(name, (await stat(join(cacheDir, "committed", name))).ino);
    return out;
  }

  it("after a successful export holds each layer above the run image once; a reused layer the daemon alone had is fetched by a partial save", async () => {
    const store = new DaemonStore(engine, { launchCache: await VolumeCache.open(cacheDir), tempDir: temp() });
    const image = await MutableImage.from(await store.openBase(RUN, logger));
    const one = await tarLayer(join(temp(), "export1"), [{ path: "layers/one.txt", content: "one\n" }]);
    const two = await tarLayer(join(temp(), "export1"), [{ path: "layers/two.txt", content: "two\n" }]);
    image.addLayer(one, { created: "1980-01-01T00:00:01Z" });
    image.addLayer(await reusedLayer(store), { created: "1980-01-01T00:00:01Z" });
    image.addLayer(two, { created: "1980-01-01T00:00:01Z" });
    image.addLayer(one, { created: "1980-01-01T00:00:01Z" }); // the same layer twice: cached once

    await store.save(image, ["localhost/test/app:1"]);

    expect(await committedLayers(cacheDir)).toEqual([one.diffId, reusable.diffId, two.diffId].sort());
    for (const diffId of await committedLayers(cacheDir)) expect(await fileDigest(join(cacheDir, "committed", `${diffId}.tar`))).toBe(diffId);
    // only the reused layer came out of the daemon; the base and the previous image's layer went as placeholders
    expect(store.stats).toMatchObject({ imageSaves: 1, layersFetched: 1, placeholdersSent: 3, layerBytesSent: one.size + two.size });
    // new layers are hard links of the exporter's tars, not copies
    expect((await stat(join(cacheDir, "committed", `${one.diffId}.tar`))).ino).toBe((await stat(one.path)).ino);
  });

  it("the next export takes reused layers from the launch cache, and drops what it no longer uses", async () => {
    const store = new DaemonStore(engine, { launchCache: await VolumeCache.open(cacheDir), tempDir: temp() });
    const image = await MutableImage.from(await store.openBase(RUN, logger));
    const three = await tarLayer(join(temp(), "export2"), [{ path: "layers/three.txt", content: "three\n" }]);
    image.addLayer(await reusedLayer(store), { created: "1980-01-01T00:00:01Z" });
    image.addLayer(three, { created: "1980-01-01T00:00:01Z" });

    await store.save(image, ["localhost/test/app:2"]);

    expect(store.stats.imageSaves).toBe(0);
    expect(await committedLayers(cacheDir)).toEqual([reusable.diffId, three.diffId].sort());
  });

  it("lets a layer be resent when the daemon has lost the image it came from", async () => {
    // an image whose only copy of `unique` is itself, exported with the launch cache
    const first = new DaemonStore(engine, { launchCache: await VolumeCache.open(cacheDir), tempDir: temp() });
    const image = await MutableImage.from(await first.openBase(RUN, logger));
    const unique = await tarLayer(join(temp(), "export3"), [{ path: "layers/unique.txt", content: "only here\n" }]);
    image.addLayer(unique, { created: "1980-01-01T00:00:01Z" });
    await first.save(image, ["localhost/test/lost:1"]);
    expect(await committedLayers(cacheDir)).toEqual([unique.diffId]);

    // the next build reads the previous image, which then disappears from the daemon
    const store = new DaemonStore(engine, { launchCache: await VolumeCache.open(cacheDir), tempDir: temp() });
    const base = await store.openBase(RUN, logger);
    const [, , lostLayer] = await store.open("localhost/test/lost:1").layers();
    if (!lostLayer) throw new Error("expected three layers");
    await podman().podman(["rmi", "localhost/test/lost:1"]);
    const next = await MutableImage.from(base);
    next.addLayer(lostLayer, { created: "1980-01-01T00:00:01Z" });

    await store.save(next, ["localhost/test/lost:2"]);

    // the placeholder was refused; the complete load took `unique` from the launch cache and the
    // base layers from one partial save of the run image (never of the lost image)
    expect(store.stats).toMatchObject({ loads: 2, refusedLoads: 1, imageSaves: 1, layersFetched: 2 });
    const { stdout } = await podman().podman(["run", "--rm", "localhost/test/lost:2", "/bin/cat", "/layers/unique.txt"], 60_000);
    expect(stdout).toBe("only here\n");
    expect(await committedLayers(cacheDir)).toEqual([unique.diffId]);
  });

  it("offers its committed layers by diffID, for reusing a layer of a previous image the daemon no longer has", async () => {
    const [diffId] = await committedLayers(cacheDir);
    if (!diffId) throw new Error("the launch cache is empty");
    const store = new DaemonStore(engine, { launchCache: await VolumeCache.open(cacheDir), tempDir: temp() });
    const layer = await store.cachedLayer(diffId);
    expect(layer).toMatchObject({ diffId, digest: diffId, mediaType: "application/vnd.oci.image.layer.v1.tar" });
    expect(await streamDigest(await (layer as FileLayer).open())).toEqual({ digest: diffId, size: layer?.size });
    expect(await store.cachedLayer(`sha256:${"0".repeat(64)}`)).toBeUndefined();
    expect(await new DaemonStore(engine).cachedLayer(diffId)).toBeUndefined();
  });

  it("is left as it was when the daemon refuses the load, and nothing is tagged", async () => {
    const before = await inodes();
    expect(before.size).toBeGreaterThan(0);
    const store = new DaemonStore(engine, { launchCache: await VolumeCache.open(cacheDir), tempDir: temp() });
    const image = await MutableImage.from(await store.openBase(RUN, logger));
    image.addLayer(await tarLayer(join(temp(), "refused"), [{ path: "layers/new.txt", content: "never committed\n" }]), { created: "1980-01-01T00:00:01Z" });
    const broken = {
      manifest: () => image.manifest(),
      layers: () => image.layers(),
      config: async () => ({ ...(await image.config()), raw: Buffer.from("{") }),
    };

    await expect(store.save(broken, ["localhost/test/refused:1"])).rejects.toMatchObject({ code: "refused" });

    expect(await inodes()).toEqual(before);
    const { stdout } = await podman().podman(["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    expect(stdout).not.toContain("localhost/test/refused");
  });
});
