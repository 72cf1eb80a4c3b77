import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { beforeAll, describe, expect, it } from "vitest";
import { skopeoCopyToLayout, skopeoInspectConfig, skopeoInspectRaw, skopeoPushLayout } from "./check/skopeo.js";
import { statTree } from "./check/file-tree.js";
import { umociUnpack } from "./check/umoci.js";
import { busyboxLayer, FIXTURE_MTIME, type LayerSpec } from "./fixtures/layer-files.js";
import { addImageIndex } from "./fixtures/multi-arch.js";
import { blobPath } from "./fixtures/oci-layout.js";
import { buildRunImage, DEFAULT_PATH, type BuiltImage } from "./fixtures/run-image.js";
import { expectNoLeakedProcesses } from "./vitest/expect-no-leaks.js";
import { useRegistry } from "./vitest/use-registry.js";
import { useTempDir } from "./vitest/use-temp-dir.js";

expectNoLeakedProcesses();
const registry = useRegistry("plain");
const temp = useTempDir("fixtures");

const STAMP = new Date("2021-06-01T12:00:00Z");
const filesLayer: LayerSpec = {
  files: [
    { path: "/etc/motd", content: "hello from run image\n" },
    { path: "opt/tool/run.sh", content: "#!/bin/sh\necho run\n", mode: 0o750, uid: 1000, gid: 1001, mtime: STAMP },
    { path: "opt/tool/current", symlink: "run.sh" },
    { path: "var/cache/app", directory: true, mode: 0o700, uid: 1000, gid: 1000 },
  ],
};
const bigLayer: LayerSpec = { files: [{ path: "data/blob.bin", size: 3 * 1024 * 1024 + 17 }] };

describe("fixture run images", () => {
  let image: BuiltImage;
  beforeAll(async () => {
    image = await buildRunImage(join(temp(), "layout"), {
      architecture: "arm64",
      variant: "v8",
      stackId: "io.buildpacks.stacks.harness",
      labels: { "org.example.extra": "yes" },
      env: { CNB_USER_ID: "1000" },
      layers: [busyboxLayer(), filesLayer, bigLayer],
    });
  });

  it("builds an OCI layout with one proper tar layer per spec and the requested config", async () => {
    expect(image.manifest.layers).toHaveLength(3);
    expect(image.config.rootfs.diff_ids).toHaveLength(3);
    expect(image.config).toMatchObject({ os: "linux", architecture: "arm64", variant: "v8" });
    expect(image.config.config?.User).toBe("1000:1000");
    expect(image.config.config?.Env).toEqual([`PATH=${DEFAULT_PATH}`, "CNB_USER_ID=1000"]);
    expect(image.config.config?.Labels).toMatchObject({
      "io.buildpacks.base.id": "io.buildpacks.harness.run",
      "io.buildpacks.base.distro.name": "busybox",
      "io.buildpacks.base.distro.version": "1.35.0",
      "io.buildpacks.stack.id": "io.buildpacks.stacks.harness",
      "org.example.extra": "yes",
    });
    for (const layer of image.manifest.layers) {
      const tar = gunzipSync(await readFile(blobPath(image.layoutDir, layer.digest)));
      expect(tar.length % 512).toBe(0);
      expect(tar.subarray(-1024).every((b) => b === 0)).toBe(true);
    }
  });

  it("pushes to a registry (OCI and v2s2) and skopeo sees the labels, platform and media types", async () => {
    const oci = await skopeoPushLayout(image.layoutDir, image.tag, registry(), "harness/run:oci");
    expect(oci.digest).toBe(image.descriptor.digest);
    const raw = await skopeoInspectRaw(registry(), "harness/run:oci");
    expect(raw.manifest?.config.mediaType).toBe("application/vnd.oci.image.config.v1+json");
    expect(raw.manifest?.layers.map((l) => l.digest)).toEqual(image.manifest.layers.map((l) => l.digest));

    const docker = await skopeoPushLayout(image.layoutDir, image.tag, registry(), "harness/run:docker", { format: "v2s2" });
    expect(docker.digest).not.toBe(oci.digest);
    const rawDocker = await skopeoInspectRaw(registry(), "harness/run:docker");
    expect(rawDocker.mediaType).toBe("application/vnd.docker.distribution.manifest.v2+json");
    expect(rawDocker.manifest?.layers[0]?.mediaType).toBe("application/vnd.docker.image.rootfs.diff.tar.gzip");

    const config = await skopeoInspectConfig(registry(), `harness/run@${docker.digest}`);
    expect(config).toMatchObject({ os: "linux", architecture: "arm64", variant: "v8" });
    expect(config.config?.Labels?.["io.buildpacks.base.id"]).toBe("io.buildpacks.harness.run");
    expect(config.rootfs.diff_ids).toEqual(image.config.rootfs.diff_ids);
  });

  it("copies back to a layout and unpacks with files, owners, modes and mtimes intact", async () => {
    const back = join(temp(), "back");
    await skopeoCopyToLayout(registry(), "harness/run:oci", back, "copy");
    const { rootfs } = await umociUnpack(back, "copy", join(temp(), "bundle"));
    const tree = await statTree(rootfs);
    // Buffer.equals: vitest's deep equality takes seconds on a 2 MB buffer.
    expect((await readFile(join(rootfs, "bin/busybox"))).equals(await readFile("/bin/busybox"))).toBe(true);
    expect(tree.get("bin/sh")).toMatchObject({ type: "symlink", link: "busybox" });
    expect(tree.get("bin/busybox")).toMatchObject({ type: "file", mode: 0o755, uid: 0, gid: 0 });
    expect(tree.get("etc/motd")).toMatchObject({ type: "file", mode: 0o644, mtime: FIXTURE_MTIME.getTime() / 1000 });
    expect(await readFile(join(rootfs, "etc/motd"), "utf8")).toBe("hello from run image\n");
    expect(tree.get("opt/tool/run.sh")).toMatchObject({ mode: 0o750, uid: 1000, gid: 1001, mtime: STAMP.getTime() / 1000 });
    expect(tree.get("opt/tool/current")).toMatchObject({ type: "symlink", link: "run.sh" });
    expect(tree.get("var/cache/app")).toMatchObject({ type: "directory", mode: 0o700, uid: 1000, gid: 1000 });
    expect(tree.get("opt")).toMatchObject({ type: "directory", mode: 0o755, mtime: FIXTURE_MTIME.getTime() / 1000 });
    expect(tree.get("data/blob.bin")?.size).toBe(3 * 1024 * 1024 + 17);
  });

  it("generates the same layer digests when built twice", async () => {
    const again = await buildRunImage(join(temp(), "layout"), { architecture: "arm64", variant: "v8", layers: [busyboxLayer(), filesLayer, bigLayer] }, "again");
    expect(again.config.rootfs.diff_ids).toEqual(image.config.rootfs.diff_ids);
  });

  it("builds and pushes a multi-arch index", async () => {
    const layoutDir = join(temp(), "multi");
    await buildRunImage(layoutDir, { architecture: "amd64", layers: [busyboxLayer()] }, "amd64");
    await buildRunImage(layoutDir, { architecture: "arm64", variant: "v8", layers: [busyboxLayer()] }, "arm64");
    const index = await addImageIndex(layoutDir, ["amd64", "arm64"], "multi");
    const pushed = await skopeoPushLayout(layoutDir, "multi", registry(), "harness/multi:latest", { all: true });
    expect(pushed.digest).toBe(index.digest);
    const raw = await skopeoInspectRaw(registry(), "harness/multi:latest");
    expect(raw.index?.manifests.map((m) => m.platform)).toEqual([
      { architecture: "amd64", os: "linux" },
      { architecture: "arm64", os: "linux", variant: "v8" },
    ]);
  });
});
