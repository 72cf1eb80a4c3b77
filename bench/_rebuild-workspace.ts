// A build workspace for the rebuild benchmark: the exporter benchmark's generated build output
// (cache + launch layers) plus a volume cache, and what a platform does between builds: a fresh
// layers directory at the same path (group.toml kept), the cache the first build left, and the
// builder's own files written again after the restorer (`<layer>.toml`, config/metadata.toml).
import { readdir, readFile, mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runTool } from "../test/harness/process/run-tool.js";
import { writeBuildOutput, type BuildOutput, type BuildOutputSpec } from "./_exporter-data.js";

/** One workspace and its cache. */
export class RebuildWorkspace {
  readonly cacheDir: string;
  private readonly snapshot: string;

  private constructor(
    readonly out: BuildOutput,
    root: string,
    /** The builder's files (path → text) other than layer contents. */
    private readonly builderFiles: ReadonlyMap<string, string>,
  ) {
    this.cacheDir = join(root, "cache");
    this.snapshot = join(root, "cache-first-build");
  }

  /** Generates the build output under `root` (which must exist) and an empty cache dir. */
  static async create(root: string, spec: BuildOutputSpec): Promise<RebuildWorkspace> {
    const out = await writeBuildOutput(join(root, "ws"), spec);
    const files = new Map<string, string>();
    const config = join(out.layersDir, "config", "metadata.toml");
    files.set(config, await readFile(config, "utf8"));
    for (const bp of await buildpackDirs(out.layersDir)) {
      for (const name of await readdir(bp)) if (name.endsWith(".toml")) files.set(join(bp, name), await readFile(join(bp, name), "utf8"));
    }
    const ws = new RebuildWorkspace(out, root, files);
    await mkdir(ws.cacheDir, { recursive: true });
    return ws;
  }

  /** Keeps the cache as it is now (after the first build), hard-linked. */
  async keepCache(): Promise<void> {
    await runTool("cp", ["-al", this.cacheDir, this.snapshot]);
  }

  /** Before a rebuild: a fresh layers directory and the first build's cache. */
  async reset(): Promise<void> {
    for (const bp of await buildpackDirs(this.out.layersDir)) await rm(bp, { recursive: true, force: true });
    for (const f of ["analyzed.toml", "report.toml"]) await rm(join(this.out.layersDir, f), { force: true });
    await rm(this.cacheDir, { recursive: true, force: true });
    await runTool("cp", ["-al", this.snapshot, this.cacheDir]);
  }

  /** The builder after the restorer: its tomls written again, the restored layers left alone. */
  async builder(): Promise<void> {
    for (const [path, text] of this.builderFiles) {
      await mkdir(join(path, ".."), { recursive: true });
      await writeFile(path, text);
    }
  }
}

async function buildpackDirs(layersDir: string): Promise<string[]> {
  const entries = await readdir(layersDir, { withFileTypes: true });
  return entries.filter((e) => e.isDirectory() && e.name.startsWith("bench_")).map((e) => join(layersDir, e.name));
}
