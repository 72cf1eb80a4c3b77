import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { DaemonStore } from "../../../src/image/daemon/daemon-store.js";
import { EngineClient } from "../../../src/image/daemon/engine-client.js";
import { FileLayer } from "../../../src/image/file-layer.js";
import { MutableImage } from "../../../src/image/mutable-image.js";
import { buildLayerBlob, staticLayerSource } from "../../../src/layers/index.js";
import type { StoredImage } from "../../../src/image/store.js";
import { MemoryLogger } from "../../../src/log/logger.js";
import { busyboxLayer, buildRunImage, copyIntoDaemon, expectNoLeakedProcesses, startPodmanService, usePodmanService, useTempDir } from "../../harness/index.js";
import { tarLayer } from "./daemon-fixtures.js";
import { MediaType } from "../../../src/oci/media-types.js";

const PodmanInspect = z.array(
  z
    .object({
      Id: z.string(),
      RepoTags: z.array(z.string()),
      RootFS: z.object({ Layers: z.array(z.string()) }),
      Config: z.object({ Labels: z.record(z.string(), z.string()).nullish(), Cmd: z.array(z.string()).nullish() }).loose(),
    })
    .loose(),
);

describe("saving images into the daemon", () => {
  expectNoLeakedProcesses();
  const podman = usePodmanService();
  const temp = useTempDir("daemon-save");
  const logger = new MemoryLogger();
  let engine: EngineClient;
  const RUN = "localhost/test/run:1";
  const RUN2 = "localhost/test/run:2";
  const APP = "localhost/test/app:1";

  beforeAll(async () => {
    const busybox = busyboxLayer(["sh", "cat", "ls", "wc"]);
    const run = await buildRunImage(join(temp(), "run"), { layers: [busybox, { files: [{ path: "etc/motd", content: "run image one\n" }] }] });
    const run2 = await buildRunImage(join(temp(), "run2"), { layers: [busybox, { files: [{ path: "etc/motd", content: "run image two\n" }] }] });
    await copyIntoDaemon(podman(), run.ociReference, RUN);
    await copyIntoDaemon(podman(), run2.ociReference, RUN2);
    engine = await EngineClient.connect({ env: { DOCKER_HOST: podman().dockerHost } });
  });
  afterAll(async () => {
    await engine.close();
  });

  async function inspect(name: string): Promise<z.infer<typeof PodmanInspect>[number]> {
    const { stdout } = await podman().podman(["image", "inspect", name]);
    const [first] = PodmanInspect.parse(JSON.parse(stdout));
    if (!first) throw new Error(`podman does not know ${name}`);
    return first;
  }

  async function tagged(name: string): Promise<boolean> {
    const { stdout } = await podman().podman(["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    return stdout.split("\n").includes(name);
  }

  async function runIn(name: string, script: string): Promise<string> {
    const { stdout } = await podman().podman(["run", "--rm", name, "/bin/sh", "-c", script], 60_000);
    return stdout;
  }

  /** An image like the exporter builds: the base plus new plain-tar layers, a label and a command. */
  async function appOn(base: StoredImage, dir: string): Promise<{ image: MutableImage; sizes: number }> {
    const image = await MutableImage.from(base);
    const one = await tarLayer(dir, [{ path: "app/one.txt", content: "app layer one\n" }]);
    const big = await tarLayer(dir, [{ path: "app/big.bin", size: 1024 * 1024 }]);
    image.addLayer(one, { created: "1980-01-01T00:00:01Z", created_by: "layer one" });
    image.addLayer(big, { created: "1980-01-01T00:00:01Z", created_by: "layer big" });
    image.setLabel("io.test.app", "yes");
    (image.editableConfig.config ??= {}).Cmd = ["/bin/sh", "-c", "cat /app/one.txt"];
    return { image, sizes: one.size + big.size };
  }

  it("sends only the layers the daemon lacks: the base goes as placeholders", async () => {
    const store = new DaemonStore(engine, { tempDir: temp() });
    const base = await store.openBase(RUN, logger);
    const { image, sizes } = await appOn(base, join(temp(), "app"));

    const result = await store.save(image, [APP, "localhost/test/app:latest"]);

    expect(store.stats).toMatchObject({ layerBytesSent: sizes, placeholdersSent: 2, loads: 1, refusedLoads: 0, imageSaves: 0 });
    const saved = await inspect(APP);
    expect(result.report.imageId).toBe(saved.Id);
    expect(result.displayId).toBe(saved.Id.slice(0, 12));
    expect(result.report.manifestSize).toBe((await image.manifest()).raw.length);
    expect(result.names).toEqual([
      { name: APP, display: APP },
      { name: "localhost/test/app:latest", display: "localhost/test/app:latest" },
    ]);
    expect((await inspect("localhost/test/app:latest")).Id).toBe(saved.Id);
    expect(saved.RootFS.Layers).toEqual((await image.config()).config.rootfs.diff_ids);
    expect(saved.Config.Labels?.["io.test.app"]).toBe("yes");
    expect(saved.Config.Labels?.["io.buildpacks.base.id"]).toBe("io.buildpacks.harness.run");
    // the image runs with the base's files and the new ones
    expect(await runIn(APP, "cat /etc/motd /app/one.txt; wc -c < /app/big.bin")).toBe("run image one\napp layer one\n1048576\n");
  });

  it("re-saving an image whose layers are all in the daemon sends no layer bytes", async () => {
    const store = new DaemonStore(engine, { tempDir: temp() });
    const app = store.open(APP);
    const image = await MutableImage.from(app);
    image.setLabel("io.test.app", "again");

    const result = await store.save(image, ["localhost/test/app:2"]);

    expect(store.stats).toMatchObject({ layerBytesSent: 0, placeholdersSent: 4, loads: 1, refusedLoads: 0, imageSaves: 0 });
    const saved = await inspect("localhost/test/app:2");
    expect(saved.Id).toBe(result.report.imageId);
    expect(saved.Config.Labels?.["io.test.app"]).toBe("again");
    expect(await runIn("localhost/test/app:2", "cat /app/one.txt")).toBe("app layer one\n");
  });

  it("a rebase onto a new base in the daemon sends no layer bytes", async () => {
    const store = new DaemonStore(engine, { tempDir: temp() });
    const app = store.open(APP);
    const newBase = await store.openBase(RUN2, logger);
    const appLayers = await app.layers();
    const oldBaseCount = (await inspect(RUN)).RootFS.Layers.length;
    const image = await MutableImage.from(newBase);
    image.setLayers([...(await newBase.layers()), ...appLayers.slice(oldBaseCount)]);
    for (const [key, value] of Object.entries((await app.config()).config.config?.Labels ?? {})) image.setLabel(key, value);

    await store.save(image, ["localhost/test/app:rebased"]);

    expect(store.stats).toMatchObject({ layerBytesSent: 0, placeholdersSent: 4, loads: 1, imageSaves: 0 });
    expect(await runIn("localhost/test/app:rebased", "cat /etc/motd /app/one.txt")).toBe("run image two\napp layer one\n");
  });

  it("falls back to one complete load when the daemon refuses a placeholder", async () => {
    const store = new DaemonStore(engine, { tempDir: temp() });
    const dir = join(temp(), "fallback");
    const gone = await tarLayer(dir, [{ path: "gone.txt", content: "loaded once, then removed\n" }]);
    const kept = await tarLayer(dir, [{ path: "kept.txt", content: "new\n" }]);
    const first = MutableImage.scratch("linux", "amd64");
    first.addLayer(gone, {});
    await store.save(first, ["localhost/test/gone:1"]);
    // the daemon loses the layer; the store still believes it holds it
    await podman().podman(["rmi", "localhost/test/gone:1"]);
    const before = { ...store.stats };

    const second = MutableImage.scratch("linux", "amd64");
    second.addLayer(gone, {});
    second.addLayer(kept, {});
    const result = await store.save(second, ["localhost/test/fallback:1"]);

    expect(store.stats.loads - before.loads).toBe(2);
    expect(store.stats.refusedLoads - before.refusedLoads).toBe(1);
    // first attempt: `kept` only; the complete load: both
    expect(store.stats.layerBytesSent - before.layerBytesSent).toBe(kept.size + gone.size + kept.size);
    expect((await inspect("localhost/test/fallback:1")).Id).toBe(result.report.imageId);
    const { stdout: mount } = await podman().podman(["image", "mount", "localhost/test/fallback:1"]);
    try {
      const { readFile } = await import("node:fs/promises");
      expect(await readFile(join(mount.trim(), "gone.txt"), "utf8")).toBe("loaded once, then removed\n");
      expect(await readFile(join(mount.trim(), "kept.txt"), "utf8")).toBe("new\n");
    } finally {
      await podman().podman(["image", "unmount", "localhost/test/fallback:1"]);
    }
  });

  it("sends complete images where placeholders are impossible (Docker's containerd store), base layers from one partial save", async () => {
    const store = new DaemonStore(engine, { tempDir: temp(), kind: "docker-containerd" });
    const base = await store.openBase(RUN, logger);
    const image = await MutableImage.from(base);
    const extra = await tarLayer(join(temp(), "containerd"), [{ path: "extra.txt", content: "extra\n" }]);
    image.addLayer(extra, {});
    const baseSizes = (await inspect(RUN)).RootFS.Layers.length;
    expect(baseSizes).toBe(2);

    await store.save(image, ["localhost/test/complete:1"]);

    expect(store.stats).toMatchObject({ placeholdersSent: 0, loads: 1, refusedLoads: 0, imageSaves: 1, layersFetched: 2 });
    expect(store.stats.layerBytesSent).toBeGreaterThan(extra.size + 1024 * 1024); // busybox came along
    expect(await runIn("localhost/test/complete:1", "cat /etc/motd /extra.txt")).toBe("run image one\nextra\n");
  });

  it("follows Docker's graph-driver rule: only a stored chain from the bottom goes as placeholders, reused layers above come from a partial save", async () => {
    const store = new DaemonStore(engine, { tempDir: temp(), kind: "docker" });
    const base = await store.openBase(RUN, logger);
    const previous = store.open(APP);
    const [, , reusedOne] = await previous.layers();
    if (!reusedOne) throw new Error("expected the app's first layer");
    const image = await MutableImage.from(base);
    const fresh = await tarLayer(join(temp(), "graph"), [{ path: "fresh.txt", content: "fresh\n" }]);
    image.addLayer(fresh, {});
    image.addLayer(reusedOne, {});

    await store.save(image, ["localhost/test/graph:1"]);

    expect(store.stats).toMatchObject({ placeholdersSent: 2, loads: 1, refusedLoads: 0, imageSaves: 1, layersFetched: 1 });
    expect(store.stats.layerBytesSent).toBeGreaterThan(fresh.size);
    expect(store.stats.layerBytesSent).toBeLessThan(fresh.size + 64 * 1024);
    expect(await runIn("localhost/test/graph:1", "cat /etc/motd /fresh.txt /app/one.txt")).toBe("run image one\nfresh\napp layer one\n");
  });

  it("loads gzip layers too, gunzipped on the way (their uncompressed size counted first)", async () => {
    const store = new DaemonStore(engine, { tempDir: temp() });
    const image = await MutableImage.from(await store.openBase(RUN, logger));
    const dir = join(temp(), "gzip");
    await mkdir(dir, { recursive: true });
    const blob = await buildLayerBlob(
      staticLayerSource([{ name: "/zipped.txt", type: "file", mode: 0o644, uid: 0, gid: 0, content: Buffer.from("zipped ".repeat(10_000)) }]),
      dir,
    );
    image.addLayer(new FileLayer(blob.path, blob.digest, blob.diffId, blob.size, MediaType.OciLayerGzip), { created: "1980-01-01T00:00:01Z" });
    expect(blob.size).toBeLessThan(blob.uncompressedSize);

    const result = await store.save(image, ["localhost/test/gzip:1"]);

    expect(store.stats.layerBytesSent).toBe(blob.uncompressedSize);
    expect((await inspect("localhost/test/gzip:1")).RootFS.Layers.at(-1)).toBe(blob.diffId);
    expect(result.report.imageId).toBe((await inspect("localhost/test/gzip:1")).Id);
    expect(await runIn("localhost/test/gzip:1", "wc -c < /zipped.txt")).toBe("70000\n");
  });

  it("saves over TCP as over the socket", async () => {
    const tcp = await startPodmanService({ listen: "tcp", paths: podman().paths });
    const tcpEngine = await EngineClient.connect({ env: { DOCKER_HOST: tcp.dockerHost } });
    try {
      const store = new DaemonStore(tcpEngine, { tempDir: temp() });
      const { image, sizes } = await appOn(await store.openBase(RUN, logger), join(temp(), "tcp"));
      const result = await store.save(image, ["localhost/test/tcp:1"]);
      expect(store.stats).toMatchObject({ layerBytesSent: sizes, placeholdersSent: 2, loads: 1 });
      expect((await inspect("localhost/test/tcp:1")).Id).toBe(result.report.imageId);
    } finally {
      await tcpEngine.close();
      await tcp.stop();
    }
  });

  it("tags every name; a name that cannot be tagged is reported alone", async () => {
    const store = new DaemonStore(engine, { tempDir: temp() });
    const image = await MutableImage.from(await store.openBase(RUN, logger));
    const digestName = `localhost/test/tags@sha256:${"a".repeat(64)}`;

    const result = await store.save(image, ["localhost/test/tags:1", digestName, "localhost/test/tags:2"]);

    expect(result.names.map((n) => [n.name, n.error?.message])).toEqual([
      ["localhost/test/tags:1", undefined],
      [digestName, `cannot tag an image with the digest reference '${digestName}'`],
      ["localhost/test/tags:2", undefined],
    ]);
    expect(await tagged("localhost/test/tags:1")).toBe(true);
    expect(await tagged("localhost/test/tags:2")).toBe(true);
  });

  it("stores short names fully qualified, as Docker does", async () => {
    const store = new DaemonStore(engine, { tempDir: temp() });
    const image = await MutableImage.from(await store.openBase(RUN, logger));
    const result = await store.save(image, ["shortname", "shortname:v1"]);
    expect(result.names.every((n) => n.error === undefined)).toBe(true);
    expect(await tagged("docker.io/library/shortname:latest")).toBe(true);
    expect(await tagged("docker.io/library/shortname:v1")).toBe(true);
    expect(await store.open("shortname").identifier()).toBe(result.report.imageId);
  });

  it("never tags anything when the daemon refuses the load", async () => {
    const store = new DaemonStore(engine, { tempDir: temp() });
    const image = await MutableImage.from(await store.openBase(RUN, logger));
    const broken = {
      manifest: () => image.manifest(),
      layers: () => image.layers(),
      config: async () => ({ ...(await image.config()), raw: Buffer.from("not json") }),
    };
    const err = await store.save(broken, ["localhost/test/refused:1", "localhost/test/refused:2"]).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: "DaemonError", code: "refused", status: 500 });
    expect((err as Error).message).toMatch(/^loading image 'localhost\/test\/refused:1' into the Docker daemon at unix:\/\/\S+: failed to load image: .*decoding tar config/);
    expect((err as Error).message).not.toContain("\n");
    // placeholders first, then one complete load
    expect(store.stats).toMatchObject({ loads: 2, refusedLoads: 2 });
    expect(await tagged("localhost/test/refused:1")).toBe(false);
    expect(await tagged("localhost/test/refused:2")).toBe(false);
  });

  it("starts the load with the layers layerReady announces and completes it at save: one load, each layer's bytes once", async () => {
    const store = new DaemonStore(engine, { tempDir: temp() });
    const base = await store.openBase(RUN, logger);
    const { image, sizes } = await appOn(base, join(temp(), "early"));
    const [, , one, big] = image.layerList;
    if (!one || !big) throw new Error("expected two app layers");
    store.layerReady("localhost/test/early:1", big);
    store.layerReady("localhost/test/early:1", big); // announced twice, sent once
    // the request is under way before save: the first layer's bytes go out meanwhile
    for (let waited = 0; store.stats.layerBytesSent < big.size && waited < 20_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(store.stats.loads).toBe(1);
    expect(store.stats.layerBytesSent).toBe(big.size);

    await store.save(image, ["localhost/test/early:1"]);

    expect(store.stats).toMatchObject({ loads: 1, refusedLoads: 0, layerBytesSent: sizes, placeholdersSent: 2, imageSaves: 0 });
    expect(await runIn("localhost/test/early:1", "cat /etc/motd /app/one.txt; wc -c < /app/big.bin")).toBe("run image one\napp layer one\n1048576\n");
  });

  it("an early load whose save fails, or that save does not use, ends with nothing stored", async () => {
    const store = new DaemonStore(engine, { tempDir: temp() });
    const base = await store.openBase(RUN, logger);
    const { image } = await appOn(base, join(temp(), "early-failed"));
    const big = image.layerList.at(-1);
    if (!big) throw new Error("no layers");
    store.layerReady("localhost/test/early-failed:1", big);
    const broken = { manifest: () => image.manifest(), layers: () => image.layers(), config: () => Promise.reject(new Error("the config could not be made")) };
    await expect(store.save(broken, ["localhost/test/early-failed:1"])).rejects.toThrow("the config could not be made");
    expect(await tagged("localhost/test/early-failed:1")).toBe(false);

    // announced for one name, saved under another: the first load is abandoned, the second made whole
    store.layerReady("localhost/test/early-other:1", big);
    await store.save(image, ["localhost/test/early-saved:1"]);
    expect(await tagged("localhost/test/early-other:1")).toBe(false);
    expect(await tagged("localhost/test/early-saved:1")).toBe(true);
    expect(store.stats).toMatchObject({ loads: 3, refusedLoads: 0 });
  });
});
