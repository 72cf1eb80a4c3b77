// Builds the lifecycle image with this project's own image code: the base layer from Debian
// packages, the lifecycle layer from the release tarball and the launcher, an OCI layout written
// with writeLayoutImage, then the sinks (registry pushes). Nothing replaces the old layout unless
// every step succeeded.
import { mkdir, open, stat } from "node:fs/promises";
import { FileLayer } from "../../image/file-layer.js";
import { writeLayoutImage } from "../../image/layout-writer.js";
import { MutableImage } from "../../image/mutable-image.js";
import { staticLayerSource } from "../../layers/layer-source.js";
import { buildLayerBlob } from "../../layers/pipeline.js";
import type { TarEntry } from "../../layers/tar-entry.js";
import { baseLayer } from "./base-layer.js";
import { packagesFromApt, packagesFromDirectory, type PackageReport } from "./debian-packages.js";
import { EM_X86_64, readElfFileDependencies } from "./elf.js";
import { lifecycleImageConfig } from "./image-config.js";
import type { ImageSink } from "./image-sinks.js";
import { lifecycleLayerEntries, type LauncherFile } from "./lifecycle-layer.js";
import { readReleaseTarball } from "./release-tarball.js";
import { StagedOutput } from "./staged-output.js";
import { MediaType } from "../../oci/media-types.js";

/** gzip level of the layers: the image is pulled often, level 6 is 10 % smaller than level 1. */
export const LAYER_GZIP_LEVEL = 6;

/** Where the Debian packages come from. */
export type PackageSource = { readonly kind: "apt"; readonly cacheDir: string } | { readonly kind: "directory"; readonly dir: string };

/** Inputs of {@link buildLifecycleImage}. */
export interface BuildImageOptions {
  /** The launcher copied to /cnb/lifecycle/launcher. */
  readonly launcher: string;
  /** The release tarball (`npm run release`). */
  readonly release: string;
  readonly packages: PackageSource;
  /** The OCI layout directory (replaced as a whole). */
  readonly out: string;
  readonly sinks?: readonly ImageSink[];
  /** Progress lines. */
  readonly log?: (line: string) => void;
  readonly signal?: AbortSignal;
}

/** One layer of the built image. */
export interface BuiltLayer {
  readonly name: "base" | "lifecycle";
  readonly digest: string;
  readonly diffId: string;
  /** Compressed bytes. */
  readonly size: number;
  readonly uncompressedSize: number;
}

/** What was built. */
export interface BuiltLifecycleImage {
  /** Manifest digest. */
  readonly digest: string;
  /** The layout's ref name: the lifecycle version. */
  readonly refName: string;
  readonly layers: readonly BuiltLayer[];
  /** Layers + config + manifest. */
  readonly compressedSize: number;
  readonly packages: readonly { readonly name: string; readonly version: string; readonly sha256: string }[];
  readonly downloaded: readonly string[];
  readonly libraries: readonly { readonly path: string; readonly package: string }[];
  readonly sinkLines: readonly string[];
}

/** Bad input or a failed step of the image build. */
export class ImageBuildError extends Error {
  override name = "ImageBuildError";
}

/** Checks the launcher: a readable, non-empty regular file. */
async function readLauncher(path: string): Promise<LauncherFile> {
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new Error("not a regular file");
    if (info.size === 0) throw new Error("the file is empty");
    await (await open(path, "r")).close();
    return { path, size: info.size };
  } catch (err) {
    throw new ImageBuildError(`cannot use the launcher ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

async function resolvePackages(source: PackageSource): Promise<PackageReport> {
  return source.kind === "apt" ? packagesFromApt(source.cacheDir) : packagesFromDirectory(source.dir);
}

async function buildLayer(name: BuiltLayer["name"], entries: readonly TarEntry[], tmpDir: string, signal?: AbortSignal) {
  const blob = await buildLayerBlob(staticLayerSource(entries), tmpDir, { level: LAYER_GZIP_LEVEL, signal });
  const layer = new FileLayer(blob.path, blob.digest, blob.diffId, blob.size, MediaType.OciLayerGzip);
  const built: BuiltLayer = { name, digest: blob.digest, diffId: blob.diffId, size: blob.size, uncompressedSize: blob.uncompressedSize };
  return { layer, built };
}

/** Builds the image into `out` (and the sinks); on any failure `out` is left as it was. */
export async function buildLifecycleImage(options: BuildImageOptions): Promise<BuiltLifecycleImage> {
  const log = options.log ?? (() => undefined);
  let mark = performance.now();
  /** Seconds since the previous call, for the progress lines. */
  const lap = (): string => {
    const now = performance.now();
    const text = `${((now - mark) / 1000).toFixed(1)} s`;
    mark = now;
    return text;
  };
  const launcher = await readLauncher(options.launcher);
  const staged = await StagedOutput.create(options.out);
  try {
    const work = staged.path("work");
    await mkdir(work);
    const release = await readReleaseTarball(options.release, work);
    const executable = await readElfFileDependencies(release.executable);
    if (executable.machine !== EM_X86_64) throw new ImageBuildError(`${options.release}: lifecycle/lifecycle is not an x86-64 executable`);
    const version = release.descriptor.lifecycle.version;
    log(`release ${version}: ${[...release.members.keys()].sort().join(", ")}, needs ${executable.needed.join(", ")} (${lap()})`);

    const report = await resolvePackages(options.packages);
    const packages = report.packages.map((p) => ({ name: p.deb.control.package, version: p.deb.control.version, sha256: p.sha256 }));
    const pinned = packages.map((p) => `${p.name}=${p.version}`).join(" ");
    const fetched = report.downloaded.length ? `, downloaded ${report.downloaded.join(", ")}` : "";
    const base = await baseLayer(report.packages, executable);
    log(`debian packages: ${pinned}${fetched} (${lap()})`);
    options.signal?.throwIfAborted();

    const [baseBuilt, lifecycleBuilt] = await Promise.all([
      buildLayer("base", base.entries, work, options.signal),
      buildLayer("lifecycle", lifecycleLayerEntries(release, launcher), work, options.signal),
    ]);
    const config = lifecycleImageConfig(release.descriptor, [
      `debian packages ${pinned}: the loader's libraries, copyrights, dpkg records; /etc/passwd, /etc/group, /etc/nsswitch.conf, /tmp`,
      `lifecycle ${version}: /cnb/lifecycle.toml, /cnb/lifecycle (executable, phase links, launcher)`,
    ]);
    log(`layers compressed at gzip level ${LAYER_GZIP_LEVEL} (${lap()})`);
    const image = new MutableImage(config, [baseBuilt.layer, lifecycleBuilt.layer], "oci");
    const layout = staged.path("layout");
    const written = await writeLayoutImage(image, layout, { refName: version, exclusive: true });
    const configSize = (await image.config()).raw.length;
    log(`layout written (${lap()})`);
    options.signal?.throwIfAborted();

    const sinkLines: string[] = [];
    for (const sink of options.sinks ?? []) {
      const lines = await sink.write(image);
      sinkLines.push(...lines);
      log(`${lines.join("; ")} (${lap()})`);
      options.signal?.throwIfAborted();
    }
    await staged.commit(layout);
    const layers = [baseBuilt.built, lifecycleBuilt.built];
    return {
      digest: written.digest,
      refName: version,
      layers,
      compressedSize: layers.reduce((n, l) => n + l.size, 0) + configSize + written.size,
      packages,
      downloaded: report.downloaded,
      libraries: base.libraries,
      sinkLines,
    };
  } finally {
    await staged.discard();
  }
}
