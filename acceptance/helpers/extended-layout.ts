import { cp, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runTool, type BuiltImage } from "../../test/harness/index.js";

/** What an extension did to the run image. */
export interface ExtensionSpec {
  /** The extension id, as the extender writes it into the layer's history. */
  readonly id: string;
  /** Files the extension added (path under `/` → content). */
  readonly files: Record<string, string>;
  /** Env entries the extended config gains. */
  readonly env?: Record<string, string>;
  readonly labels?: Record<string, string>;
}

/** The sparse layout written, and what a test checks against. */
export interface ExtendedLayout {
  /** `<extended>/run/<manifest digest>`. */
  readonly path: string;
  readonly manifestDigest: string;
  /** Digest of the one layer blob left in the layout. */
  readonly layerDigest: string;
  readonly createdBy: string;
}

interface Manifest {
  readonly layers: { digest: string }[];
}

/**
 * Writes what the extender leaves for the exporter, made with umoci: the run image plus one layer
 * and a changed config, as a sparse OCI layout under `<extendedDir>/run/<digest>` holding the
 * manifest, the config and only the extension's layer blob.
 */
export async function writeExtendedLayout(runImage: BuiltImage, extendedDir: string, work: string, ext: ExtensionSpec): Promise<ExtendedLayout> {
  const layout = join(work, "extended-layout");
  await rm(layout, { recursive: true, force: true });
  await cp(runImage.layoutDir, layout, { recursive: true });
  const image = `${layout}:${runImage.tag}`;
  const bundle = join(work, "extended-bundle");
  await rm(bundle, { recursive: true, force: true });
  await runTool("umoci", ["unpack", "--image", image, bundle]);
  for (const [path, content] of Object.entries(ext.files)) {
    const target = join(bundle, "rootfs", path);
    await mkdir(join(target, ".."), { recursive: true });
    await writeFile(target, content);
  }
  const createdBy = `Layer: 'RUN write ${Object.keys(ext.files).join(" ")}', Created by extension: ${ext.id}`;
  await runTool("umoci", ["repack", "--image", image, "--history.created_by", createdBy, bundle]);
  await rm(bundle, { recursive: true, force: true });
  const config = ["config", "--image", image, "--no-history"];
  for (const [k, v] of Object.entries(ext.env ?? {})) config.push("--config.env", `${k}=${v}`);
  for (const [k, v] of Object.entries(ext.labels ?? {})) config.push("--config.label", `${k}=${v}`);
  if (config.length > 4) await runTool("umoci", config);
  await runTool("umoci", ["gc", "--layout", layout]);

  const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as { manifests: { digest: string }[] };
  const manifestDigest = index.manifests[0]?.digest ?? "";
  const manifest = JSON.parse(await readFile(join(layout, "blobs", "sha256", manifestDigest.slice(7)), "utf8")) as Manifest;
  const layerDigest = manifest.layers[manifest.layers.length - 1]?.digest ?? "";
  // sparse: the run image's own layer blobs are not in the layout
  for (const l of manifest.layers.slice(0, -1)) await rm(join(layout, "blobs", "sha256", l.digest.slice(7)), { force: true });
  const path = join(extendedDir, "run", manifestDigest);
  await mkdir(join(extendedDir, "run"), { recursive: true });
  await rename(layout, path);
  return { path, manifestDigest, layerDigest, createdBy };
}
