import { createReadStream } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createGunzip } from "node:zlib";
import { beforeAll, describe, expect, it } from "vitest";
import { skopeoInspectConfig, skopeoInspectRaw, statTree, umociUnpack } from "../../harness/index.js";
import { useRegistry } from "../../harness/vitest/use-registry.js";
import { useTempDir } from "../../harness/vitest/use-temp-dir.js";
import { expectNoLeakedProcesses } from "../../harness/vitest/expect-no-leaks.js";
import { buildLifecycleImage, type BuildImageOptions } from "../../../src/tools/lifecycle-image/build-image.js";
import { parsePushReferences, registrySink } from "../../../src/tools/lifecycle-image/image-sinks.js";
import { readTar, type TarHeader } from "../../../src/tools/lifecycle-image/tar-input.js";
import { releaseMembers, syntheticElf, writeSyntheticInputs, writeTarball, type SyntheticInputs } from "./fixtures.js";

expectNoLeakedProcesses();
const plain = useRegistry("plain");
const htpasswd = useRegistry("htpasswd");
const temp = useTempDir("build-image");
let inputs: SyntheticInputs;
let count = 0;

beforeAll(async () => {
  inputs = await writeSyntheticInputs(join(temp(), "inputs"));
});

/** A fresh output directory (in its own parent, to see stray staging directories). */
async function outDir(): Promise<string> {
  const parent = join(temp(), `out-${++count}`);
  await mkdir(parent);
  return join(parent, "image");
}

function options(out: string, extra: Partial<BuildImageOptions> = {}): BuildImageOptions {
  return { launcher: inputs.launcher, release: inputs.release, packages: { kind: "directory", dir: inputs.debs }, out, ...extra };
}

async function layoutIndex(out: string): Promise<{ manifests: { digest: string; annotations?: Record<string, string> }[] }> {
  return JSON.parse(await readFile(join(out, "index.json"), "utf8")) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
}

async function blobJson<T>(out: string, digest: string): Promise<T> {
  return JSON.parse(await readFile(join(out, "blobs", "sha256", digest.slice(7)), "utf8")) as T;
}

/** The headers of a layer blob in the layout, in archive order. */
async function layerHeaders(out: string, digest: string): Promise<TarHeader[]> {
  const headers: TarHeader[] = [];
  await readTar(createReadStream(join(out, "blobs", "sha256", digest.slice(7))).pipe(createGunzip()), (h) => {
    headers.push(h);
    return Promise.resolve();
  });
  return headers;
}

interface Manifest {
  layers: { digest: string; size: number; mediaType: string }[];
  config: { digest: string };
}

describe("buildLifecycleImage", () => {
  it("writes one image under the lifecycle version with the Go lifecycle image's labels and working dir", async () => {
    const out = await outDir();
    const built = await buildLifecycleImage(options(out));
    const index = await layoutIndex(out);
    expect(index.manifests).toHaveLength(1);
    expect(index.manifests[0]).toMatchObject({ digest: built.digest, annotations: { "org.opencontainers.image.ref.name": "0.1.0" } });
    expect(built.refName).toBe("0.1.0");

    const manifest = await blobJson<Manifest>(out, built.digest);
    expect(manifest.layers.map((l) => l.mediaType)).toEqual(["application/vnd.oci.image.layer.v1.tar+gzip", "application/vnd.oci.image.layer.v1.tar+gzip"]);
    expect(manifest.layers.map((l) => l.digest)).toEqual(built.layers.map((l) => l.digest));
    const config = await blobJson<{ created: string; architecture: string; os: string; config: { WorkingDir: string; Labels: Record<string, string>; Env: string[] } }>(out, manifest.config.digest);
    expect(config).toMatchObject({ created: "1980-01-01T00:00:01Z", architecture: "amd64", os: "linux" });
    expect(config.config.WorkingDir).toBe("/layers");
    expect(config.config.Labels).toEqual({
      "io.buildpacks.lifecycle.version": "0.1.0",
      "io.buildpacks.lifecycle.apis":
        '{"buildpack":{"deprecated":[],"supported":["0.7","0.8","0.9","0.10","0.11","0.12"]},"platform":{"deprecated":[],"supported":["0.7","0.8","0.9","0.10","0.11","0.12","0.13","0.14","0.15"]}}',
      "io.buildpacks.builder.metadata": '{"lifecycle":{"version":"0.1.0"},"api":{"buildpack":"0.7","platform":"0.7"}}',
    });
    expect(built.packages.map((p) => `${p.name}=${p.version}`)).toEqual(["gcc-12-base=1.0-1", "libc6=1.0-1", "libgcc-s1=1.0-1", "libstdc++6=1.0-1"]);
  });

  it("puts /cnb/lifecycle.toml and /cnb/lifecycle in the second layer: root-owned, 0755 directories and executables, 1980 mtimes", async () => {
    const out = await outDir();
    const built = await buildLifecycleImage(options(out));
    const headers = await layerHeaders(out, built.layers[1]?.digest ?? "");
    expect(headers.map((h) => [h.name, h.type, h.mode.toString(8), h.linkname ?? ""])).toEqual([
      ["/cnb", "directory", "755", ""],
      ["/cnb/lifecycle", "directory", "755", ""],
      ["/cnb/lifecycle.toml", "file", "644", ""],
      ["/cnb/lifecycle/analyzer", "symlink", "777", "lifecycle"],
      ["/cnb/lifecycle/exporter", "symlink", "777", "lifecycle"],
      ["/cnb/lifecycle/launcher", "file", "755", ""],
      ["/cnb/lifecycle/lifecycle", "file", "755", ""],
      ["/cnb/lifecycle/rebaser", "symlink", "777", "lifecycle"],
      ["/cnb/lifecycle/restorer", "symlink", "777", "lifecycle"],
    ]);
    for (const h of headers) {
      expect([h.uid, h.gid, h.mtime.toISOString()], h.name).toEqual([0, 0, "1980-01-01T00:00:01.000Z"]);
    }
  });

  it("is read the same by umoci: the base has the loader closure, /etc files and a sticky /tmp, and the launcher's bytes", async () => {
    const out = await outDir();
    await buildLifecycleImage(options(out));
    const { rootfs } = await umociUnpack(out, "0.1.0", join(temp(), `unpacked-${count}`));
    const tree = await statTree(rootfs);
    expect([...tree.keys()].filter((p) => !p.startsWith("cnb"))).toEqual([
      "etc",
      "etc/group",
      "etc/nsswitch.conf",
      "etc/passwd",
      "lib",
      "lib/x86_64-linux-gnu",
      "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
      "lib/x86_64-linux-gnu/libc.so.6",
      "lib64",
      "lib64/ld-linux-x86-64.so.2",
      "tmp",
      "usr",
      "usr/share",
      "usr/share/doc",
      "usr/share/doc/gcc-12-base",
      "usr/share/doc/gcc-12-base/copyright",
      "usr/share/doc/libc6",
      "usr/share/doc/libc6/copyright",
      "usr/share/doc/libgcc-s1",
      "var",
      "var/lib",
      "var/lib/dpkg",
      "var/lib/dpkg/status.d",
      "var/lib/dpkg/status.d/gcc-12-base",
      "var/lib/dpkg/status.d/libc6",
      "var/lib/dpkg/status.d/libgcc-s1",
      "var/lib/dpkg/status.d/libstdc++6",
    ]);
    expect(tree.get("tmp")?.mode).toBe(0o1777);
    expect(tree.get("lib64/ld-linux-x86-64.so.2")?.link).toBe("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
    expect(await readFile(join(rootfs, "cnb/lifecycle/launcher"), "utf8")).toBe(await readFile(inputs.launcher, "utf8"));
    expect(await readFile(join(rootfs, "var/lib/dpkg/status.d/libc6"), "utf8")).toMatch(/^Package: libc6\nVersion: 1\.0-1\n/);
    for (const [path, e] of tree) expect([e.uid, e.gid], path).toEqual([0, 0]);
  });

  it("gives the same digest for the same inputs, and another one for another launcher", async () => {
    const a = await buildLifecycleImage(options(await outDir()));
    const b = await buildLifecycleImage(options(await outDir()));
    expect(b.digest).toBe(a.digest);
    expect(b.layers).toEqual(a.layers);
    const launcher = join(temp(), "other-launcher");
    await writeFile(launcher, "#!/bin/sh\necho another launcher\n");
    const c = await buildLifecycleImage(options(await outDir(), { launcher }));
    expect(c.layers[0]?.digest).toBe(a.layers[0]?.digest);
    expect(c.layers[1]?.digest).not.toBe(a.layers[1]?.digest);
    expect(c.digest).not.toBe(a.digest);
  });

  it("pushes the image that it writes to the layout (skopeo reads the same manifest)", async () => {
    const out = await outDir();
    const refs = parsePushReferences([`${plain().host}/cnb/lifecycle:0.1.0`, `${plain().host}/cnb/lifecycle:latest`]);
    const built = await buildLifecycleImage(options(out, { sinks: [registrySink(refs, {})] }));
    expect(built.sinkLines).toEqual([
      `pushed ${plain().host}/cnb/lifecycle:0.1.0 (${built.digest})`,
      `pushed ${plain().host}/cnb/lifecycle:latest (${built.digest})`,
    ]);
    for (const tag of ["0.1.0", "latest"]) {
      const raw = await skopeoInspectRaw(plain(), `cnb/lifecycle:${tag}`);
      expect(raw.raw).toBe(await readFile(join(out, "blobs", "sha256", built.digest.slice(7)), "utf8"));
    }
    const config = await skopeoInspectConfig(plain(), "cnb/lifecycle:0.1.0");
    expect(config.config?.Labels?.["io.buildpacks.lifecycle.version"]).toBe("0.1.0");
  });

  it("pushes with credentials from CNB_REGISTRY_AUTH", async () => {
    const creds = htpasswd().credentials;
    const auth = JSON.stringify({ [htpasswd().host]: `Basic ${Buffer.from(`${creds?.username}:${creds?.password}`).toString("base64")}` });
    const built = await buildLifecycleImage(options(await outDir(), { sinks: [registrySink(parsePushReferences([`${htpasswd().host}/cnb/lifecycle:0.1.0`]), { CNB_REGISTRY_AUTH: auth })] }));
    expect((await skopeoInspectRaw(htpasswd(), "cnb/lifecycle:0.1.0")).manifest?.layers.map((l) => l.digest)).toEqual(built.layers.map((l) => l.digest));
  });
});

describe("bad input leaves no layout behind", () => {
  /** Runs a failing build into a fresh directory; returns the error and what the parent holds afterwards. */
  async function failing(extra: Partial<BuildImageOptions>): Promise<{ message: string; left: string[] }> {
    const out = await outDir();
    const err = await buildLifecycleImage(options(out, extra)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    const message = (err as Error).message;
    expect(message).not.toContain("\n");
    return { message, left: await readdir(join(out, "..")) };
  }

  it("a missing launcher", async () => {
    const r = await failing({ launcher: join(temp(), "no-launcher") });
    expect(r.message).toMatch(/^cannot use the launcher .*no-launcher: ENOENT: no such file or directory/);
    expect(r.left).toEqual([]);
  });

  it("an unreadable or corrupt release tarball", async () => {
    const missing = await failing({ release: join(temp(), "nope.tgz") });
    expect(missing.message).toMatch(/^cannot read the release tarball .*nope\.tgz: ENOENT/);
    expect(missing.left).toEqual([]);

    const corrupt = join(temp(), "corrupt.tgz");
    await writeFile(corrupt, "this is not gzip");
    const bad = await failing({ release: corrupt });
    expect(bad.message).toBe(`cannot read the release tarball ${corrupt}: incorrect header check`);
    expect(bad.left).toEqual([]);

    const truncated = join(temp(), "truncated.tgz");
    await writeFile(truncated, (await readFile(inputs.release)).subarray(0, 300));
    const cut = await failing({ release: truncated });
    expect(cut.message).toBe(`cannot read the release tarball ${truncated}: unexpected end of file`);
    expect(cut.left).toEqual([]);
  });

  it("a tarball that is not a lifecycle release", async () => {
    const noToml = await writeTarball(join(temp(), "no-toml.tgz"), releaseMembers(syntheticElf()).filter((m) => m.name !== "lifecycle.toml"));
    expect((await failing({ release: noToml })).message).toBe(`the release tarball ${noToml} has no lifecycle.toml`);
    const stray = await writeTarball(join(temp(), "stray.tgz"), [...releaseMembers(syntheticElf()), { name: "etc/passwd", content: "x" }]);
    expect((await failing({ release: stray })).message).toBe(`the release tarball ${stray} has an unexpected member "etc/passwd"`);
  });

  it("a package missing from the .deb directory", async () => {
    const debs = join(temp(), "few-debs");
    await mkdir(debs);
    for (const name of await readdir(inputs.debs)) {
      if (name.endsWith(".deb") && !name.startsWith("libstdc++6")) await writeFile(join(debs, name), await readFile(join(inputs.debs, name)));
    }
    const r = await failing({ packages: { kind: "directory", dir: debs } });
    expect(r.message).toBe(`${debs} has no .deb of libstdc++6 (needed by the image)`);
    expect(r.left).toEqual([]);
  });

  it("a push the registry refuses, and the previous layout stays as it was", async () => {
    const out = await outDir();
    await buildLifecycleImage(options(out));
    const before = await readFile(join(out, "index.json"), "utf8");
    const launcher = join(temp(), "new-launcher");
    await writeFile(launcher, "#!/bin/sh\necho new\n");
    const sink = registrySink(parsePushReferences([`${htpasswd().host}/cnb/lifecycle:0.1.0`]), {});
    const err = await buildLifecycleImage(options(out, { launcher, sinks: [sink] })).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(new RegExp(`^cannot push to ${htpasswd().host}/cnb/lifecycle:0\\.1\\.0: .*401`));
    expect(await readFile(join(out, "index.json"), "utf8")).toBe(before);
    expect(await readdir(join(out, ".."))).toEqual(["image"]);
  });
});
