import { createWriteStream } from "node:fs";
import { copyFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { VolumeCache } from "../../../src/cache/volume-cache.js";
import { DaemonStore } from "../../../src/image/daemon/daemon-store.js";
import { EngineClient } from "../../../src/image/daemon/engine-client.js";
import { DaemonError } from "../../../src/image/daemon/engine-errors.js";
import { MutableImage } from "../../../src/image/mutable-image.js";
import { MemoryLogger } from "../../../src/log/logger.js";
import { buildRunImage, copyIntoDaemon, expectNoLeakedProcesses, patchLayoutConfig, usePodmanService, useTempDir, type BuiltImage } from "../../harness/index.js";
import { streamDigest, tarLayer } from "./daemon-fixtures.js";
import { MediaType } from "../../../src/oci/media-types.js";

const PodmanInspect = z.array(
  z.object({ Id: z.string(), RootFS: z.object({ Layers: z.array(z.string()) }), Config: z.object({ Labels: z.record(z.string(), z.string()) }).loose() }).loose(),
);

describe("images read from the daemon", () => {
  expectNoLeakedProcesses();
  const podman = usePodmanService();
  const temp = useTempDir("daemon-image");
  let engine: EngineClient;
  let run: BuiltImage;
  const RUN = "localhost/test/run:1";

  beforeAll(async () => {
    run = await buildRunImage(join(temp(), "layout"), {
      layers: [
        { files: [{ path: "bin/busybox", copyFrom: "/bin/busybox", mode: 0o755 }, { path: "bin/sh", symlink: "busybox" }] },
        { files: [{ path: "etc/motd", content: "hello from the run image\n" }] },
        { files: [{ path: "opt/big.bin", size: 3 * 1024 * 1024 }] },
      ],
      labels: { "io.buildpacks.stack.id": "test.stack" },
      workingDir: "/workspace",
      cmd: ["/bin/sh"],
    });
    await copyIntoDaemon(podman(), run.ociReference, RUN);
    engine = await EngineClient.connect({ env: { DOCKER_HOST: podman().dockerHost } });
  });
  afterAll(async () => {
    await engine.close();
  });

  async function podmanInspect(name: string): Promise<z.infer<typeof PodmanInspect>[number]> {
    const { stdout } = await podman().podman(["image", "inspect", name]);
    const [first] = PodmanInspect.parse(JSON.parse(stdout));
    if (!first) throw new Error(`podman does not know ${name}`);
    return first;
  }

  it("rebuilds the config from inspect and history, with a manifest of uncompressed layers", async () => {
    const store = new DaemonStore(engine);
    const image = store.open(RUN);
    const expected = await podmanInspect(RUN);
    expect(await image.exists()).toBe(true);
    expect(await image.identifier()).toBe(expected.Id);
    expect(await image.identifier()).toMatch(/^[0-9a-f]{64}$/);

    const { config } = await image.config();
    expect(config.rootfs.diff_ids).toEqual(expected.RootFS.Layers);
    expect(config.rootfs.diff_ids).toEqual(run.config.rootfs.diff_ids);
    expect(config.os).toBe("linux");
    expect(config.architecture).toBe("amd64");
    expect(config.config?.Labels).toEqual(run.config.config?.Labels);
    expect(config.config?.Labels?.["io.buildpacks.stack.id"]).toBe("test.stack");
    expect(config.config?.User).toBe("1000:1000");
    expect(config.config?.WorkingDir).toBe("/workspace");
    expect(config.config?.Cmd).toEqual(["/bin/sh"]);
    expect(config.config?.Env).toEqual(run.config.config?.Env);
    // umoci adds an empty-layer history entry the Engine API cannot tell apart: one blank entry per layer, as Go does
    expect(config.history).toHaveLength(3);

    const { manifest, mediaType } = await image.manifest();
    expect(mediaType).toBe(MediaType.OciManifest);
    expect(manifest.layers.map((l) => l.digest)).toEqual(expected.RootFS.Layers);
    expect(manifest.layers.every((l) => l.mediaType === MediaType.OciLayer)).toBe(true);
    const layers = await image.layers();
    expect(layers.map((l) => [l.digest, l.diffId])).toEqual(expected.RootFS.Layers.map((d) => [d, d]));
  });

  it("keeps the daemon's per-layer history when it has one entry per layer", async () => {
    const store = new DaemonStore(engine);
    const layout = join(temp(), "layout-history");
    const built = await buildRunImage(layout, { layers: [{ files: [{ path: "a.txt", content: "a" }], createdBy: "step a" }, { files: [{ path: "b.txt", content: "b" }], createdBy: "step b" }] });
    // drop umoci's empty-layer "umoci config" entry by copying only the layers' history (skopeo keeps config bytes as they are)
    await patchLayoutConfig(layout, built.tag, (c) => {
      c.history = z.array(z.object({ empty_layer: z.boolean().optional() }).loose()).parse(c.history).filter((h) => h.empty_layer !== true);
    });
    await copyIntoDaemon(podman(), built.ociReference, "localhost/test/history:1");
    const { config } = await store.open("localhost/test/history:1").config();
    expect(config.history?.map((h) => h.created_by)).toEqual(["step a", "step b"]);
    expect(config.history?.every((h) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(h.created ?? ""))).toBe(true);
  });

  it("reads an image whose history podman cannot report (an entry without `created`) with blank history", async () => {
    const store = new DaemonStore(engine, { tempDir: temp() });
    const image = await MutableImage.from(await store.openBase(RUN, new MemoryLogger()));
    image.addLayer(await tarLayer(join(temp(), "no-created"), [{ path: "x.txt", content: "x" }]), { created_by: "no created time" });
    await store.save(image, ["localhost/test/no-created:1"]);
    // podman's own history endpoint fails on it
    const res = await engine.request({ method: "GET", path: "/images/localhost/test/no-created:1/history", what: "history" });
    expect(res.statusCode).toBe(500);
    await res.body.dump();

    const { config } = await store.open("localhost/test/no-created:1").config();
    expect(config.history).toHaveLength(4);
    expect(config.history?.every((h) => h.created !== undefined && h.created_by === undefined)).toBe(true);
  });

  it("opens images by ID as analyzed.toml records them", async () => {
    const store = new DaemonStore(engine);
    const id = await store.open(RUN).identifier();
    const byId = store.open(id);
    expect(await byId.exists()).toBe(true);
    expect(await byId.identifier()).toBe(id);
    expect((await byId.config()).config.rootfs.diff_ids).toEqual(run.config.rootfs.diff_ids);
  });

  it("says an absent image does not exist, and openBase names it", async () => {
    const store = new DaemonStore(engine);
    const absent = store.open("localhost/test/absent:1");
    expect(await absent.exists()).toBe(false);
    await expect(absent.identifier()).rejects.toThrow("image 'localhost/test/absent:1' not found in the daemon");
    const err = await store.openBase("localhost/test/absent:1", new MemoryLogger()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DaemonError);
    expect((err as DaemonError).message).toBe("image 'localhost/test/absent:1' not found in the daemon");
    expect(await store.probeRead("localhost/test/absent:1")).toEqual({ readable: true });
    expect(await store.probeWrite("localhost/test/absent:1")).toEqual({ readable: true });
  });

  it("says an image ID the daemon does not have (as analyzed.toml records it, without sha256:) does not exist", async () => {
    const store = new DaemonStore(engine);
    // podman answers a bare 64-hex name it cannot find with 500, not 404
    for (const id of ["0".repeat(64), `sha256:${"0".repeat(64)}`]) {
      const absent = store.open(id);
      expect(await absent.exists()).toBe(false);
      const err = await store.openBase(id, new MemoryLogger()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DaemonError);
      expect((err as DaemonError).code).toBe("not-found");
    }
  });

  it("reads one layer out of a partial save, stopping once it was found", async () => {
    const store = new DaemonStore(engine, { tempDir: temp() });
    const layers = await store.open(RUN).layers();
    const [bottom, motd] = layers;
    if (!bottom || !motd) throw new Error("expected three layers");

    // the whole save, for comparison
    const full = await engine.request({ method: "GET", path: `/images/${RUN}/get`, what: "full save" });
    const fullSize = (await streamDigest(full.body)).size;

    const read = await streamDigest(await motd.uncompressed());
    expect(read.digest).toBe(motd.diffId);
    expect(store.stats.imageSaves).toBe(1);
    expect(store.stats.layersFetched).toBe(1);
    // the 3 MiB top layer comes after it in podman's save: the reading stopped long before its end
    expect(store.stats.saveBytesRead).toBeLessThan(fullSize - 2 * 1024 * 1024);

    const again = await streamDigest(await bottom.open());
    expect(again.digest).toBe(bottom.diffId);
    expect(store.stats.imageSaves).toBe(2);
  });

  it("reads layers from the launch cache without asking the daemon", async () => {
    const dir = join(temp(), "launch-cache");
    await mkdir(join(dir, "committed"), { recursive: true });
    const store = new DaemonStore(engine, { tempDir: temp() });
    const [, motd] = await store.open(RUN).layers();
    if (!motd) throw new Error("expected a second layer");
    // put the layer's tar into the cache the way a previous export would have
    const layerTar = join(temp(), "motd.tar");
    await pipeline(await motd.uncompressed(), createWriteStream(layerTar));
    await copyFile(layerTar, join(dir, "committed", `${motd.diffId}.tar`));

    const cached = new DaemonStore(engine, { launchCache: await VolumeCache.open(dir), tempDir: temp() });
    const [, cachedMotd] = await cached.open(RUN).layers();
    if (!cachedMotd) throw new Error("expected a second layer");
    expect((await streamDigest(await cachedMotd.uncompressed())).digest).toBe(motd.diffId);
    expect(cached.stats.imageSaves).toBe(0);
  });

  it("fails reading a layer of an image the daemon has lost, naming it", async () => {
    const store = new DaemonStore(engine, { tempDir: temp() });
    const layout = join(temp(), "layout-lost");
    const built = await buildRunImage(layout, { layers: [{ files: [{ path: "lost.txt", content: "soon gone" }] }] });
    await copyIntoDaemon(podman(), built.ociReference, "localhost/test/lost:1");
    const image = store.open("localhost/test/lost:1");
    const [layer] = await image.layers();
    if (!layer) throw new Error("expected a layer");
    await podman().podman(["rmi", "localhost/test/lost:1"]);
    const err = await layer.uncompressed().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DaemonError);
    expect((err as Error).message).toMatch(/^saving layers of image [0-9a-f]{12} from the daemon: image sha256:[0-9a-f]{64} is no longer in the daemon$/);
  });
});
