// A build and its rebuilds for the restore record's tests: a first build (the builder's layers
// written by hand: files, a symlink, modes), then rebuilds that start from a fresh layers directory
// at the same path, as a platform gives each build: analyzer → restorer (volume cache) → the builder
// leaving the restored layers alone → exporter (debug log), with a chance to change the layers in
// between. Every rebuild starts from the volume cache the first build left (an image cache is
// whatever the last exporter pushed).
import { cpSync, existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import { skopeoCopyToLayout, umociUnpack, type RegistryEndpoint } from "../../test/harness/index.js";
import { runLifecycle, type RunOptions, type RunResult } from "./lifecycle.js";
import { createWorkspace, exporterArgs, writeBuildOutput, type BuildSpec, type Workspace } from "./workspace.js";

/** The builder's output apart from layer contents (those are written by {@link writeLayerFiles}). */
export const TOML_ONLY: BuildSpec = {
  group: [{ id: "acme/node", version: "1.0.0" }],
  layers: [
    { bp: "acme/node", name: "runtime", types: { launch: true, cache: true }, metadata: { version: "1" } },
    { bp: "acme/node", name: "tools", types: { build: true, cache: true } },
  ],
  app: { "index.html": "<html/>" },
  processes: [{ type: "web", command: ["node", "server.js"], default: true }],
};

/** A first build and what its rebuilds need. */
export interface BuildContext {
  readonly ws: Workspace;
  readonly endpoint: RegistryEndpoint;
  /** The repository (`<host>/<repo>:<tag>` names its images). */
  readonly repo: string;
  /** The cache as the first build left it. */
  readonly cacheSnapshot: string;
  readonly options: RunOptions;
  /** `-cache-dir <dir>`, or `-cache-image <ref>`. */
  readonly cacheArgs: readonly string[];
}

/** `<layers>/acme_node/<layer>`. */
export function layerDir(ws: Workspace, name: string): string {
  return join(ws.layers, "acme_node", name);
}

/** The runtime layer (launch + cache) and the tools layer (build + cache) as the builder first writes them. */
export function writeLayerFiles(ws: Workspace, extra?: (ws: Workspace) => void): void {
  const runtime = layerDir(ws, "runtime");
  mkdirSync(join(runtime, "bin"), { recursive: true });
  mkdirSync(join(runtime, "lib", "sub"), { recursive: true });
  writeFileSync(join(runtime, "bin", "node"), "runtime v1\n", { mode: 0o755 });
  writeFileSync(join(runtime, "lib", "a.txt"), "alpha\n");
  writeFileSync(join(runtime, "lib", "sub", "b.txt"), "bravo\n");
  symlinkSync("a.txt", join(runtime, "lib", "link"));
  const tools = layerDir(ws, "tools");
  mkdirSync(tools, { recursive: true });
  writeFileSync(join(tools, "tool.txt"), "tool\n");
  extra?.(ws);
}

async function phase(bin: "analyzer" | "restorer" | "exporter", args: string[], options: RunOptions): Promise<RunResult> {
  const r = await runLifecycle(bin, ["-no-color", ...args], options);
  expect(r.code, `${bin}: ${r.output}`).toBe(0);
  return r;
}

/**
 * Runs the first build (cache dir, image `:1`) in `root`; `prepare` may change the workspace before
 * the layers are written, `moreFiles` add to them.
 */
export async function firstBuild(
  root: string,
  endpoint: RegistryEndpoint,
  repo: string,
  opts: { prepare?: (ws: Workspace) => void; moreFiles?: (ws: Workspace) => void; options?: RunOptions; cacheImage?: string } = {},
): Promise<BuildContext> {
  const ws = createWorkspace(root, TOML_ONLY, `[[images]]\n  image = "${endpoint.host}/acme/run:1"\n`);
  opts.prepare?.(ws);
  writeLayerFiles(ws, opts.moreFiles);
  const options = opts.options ?? { platformApi: "0.14", env: { CNB_USER_ID: "0", CNB_GROUP_ID: "0" } };
  const image = `${endpoint.host}/${repo}:1`;
  const cacheArgs = opts.cacheImage ? ["-cache-image", opts.cacheImage] : ["-cache-dir", ws.cache];
  await phase("analyzer", ["-layers", ws.layers, "-run", ws.run, image], options);
  await phase("restorer", ["-layers", ws.layers, ...cacheArgs], options);
  await phase("exporter", [...exporterArgs(ws), ...cacheArgs, image], options);
  const cacheSnapshot = `${ws.cache}-first-build`;
  cpSync(ws.cache, cacheSnapshot, { recursive: true });
  return { ws, endpoint, repo, cacheSnapshot, options, cacheArgs };
}

/** A fresh layers directory (at the same path) and the first build's volume cache, then the analyzer for image `:<tag>`. */
export async function analyze(ctx: BuildContext, tag: string): Promise<RunResult> {
  const { ws } = ctx;
  rmSync(join(ws.layers, "acme_node"), { recursive: true, force: true });
  for (const f of ["analyzed.toml", "report.toml"]) rmSync(join(ws.layers, f), { force: true });
  rmSync(ws.cache, { recursive: true, force: true });
  cpSync(ctx.cacheSnapshot, ws.cache, { recursive: true });
  const previous = `${ctx.endpoint.host}/${ctx.repo}:1`;
  return phase("analyzer", ["-layers", ws.layers, "-run", ws.run, "-previous-image", previous, `${ctx.endpoint.host}/${ctx.repo}:${tag}`], ctx.options);
}

/** The restorer from the cache, then the builder (it rewrites its tomls and leaves the restored layers). */
export async function restore(ctx: BuildContext, args: string[] = []): Promise<RunResult> {
  const r = await phase("restorer", ["-layers", ctx.ws.layers, ...ctx.cacheArgs, ...args], ctx.options);
  writeBuildOutput(ctx.ws, TOML_ONLY);
  return r;
}

/** Options of {@link exportImage}. */
export interface ExportOptions {
  readonly args?: string[];
  readonly options?: RunOptions;
  /** Without a cache. */
  readonly noCache?: boolean;
  /** Let a failing exporter return instead of failing the test. */
  readonly mayFail?: boolean;
}

/** The exporter at debug level for image `:<tag>`. */
export async function exportImage(ctx: BuildContext, tag: string, opts: ExportOptions = {}): Promise<RunResult> {
  const args = ["-no-color", "-log-level", "debug", ...exporterArgs(ctx.ws), ...(opts.noCache ? [] : ctx.cacheArgs), ...(opts.args ?? [])];
  const r = await runLifecycle("exporter", [...args, `${ctx.endpoint.host}/${ctx.repo}:${tag}`], opts.options ?? ctx.options);
  if (!opts.mayFail) expect(r.code, `exporter: ${r.output}`).toBe(0);
  return r;
}

/** analyzer → restorer → builder → `change` → exporter, for image `:<tag>`. */
export async function rebuild(ctx: BuildContext, tag: string, change?: (ws: Workspace) => void, opts: ExportOptions = {}): Promise<RunResult> {
  await analyze(ctx, tag);
  await restore(ctx);
  expect(existsSync(join(ctx.ws.layers, ".restore-record.json")), "the restorer wrote a record").toBe(true);
  change?.(ctx.ws);
  return exportImage(ctx, tag, opts);
}

/** Unpacks image `:<tag>` with umoci; returns its root filesystem. */
export async function unpack(ctx: BuildContext, tag: string, scratch: string): Promise<string> {
  const layout = join(scratch, `layout-${tag}`);
  await skopeoCopyToLayout(ctx.endpoint, `${ctx.repo}:${tag}`, layout, "latest");
  return (await umociUnpack(layout, "latest", join(scratch, `bundle-${tag}`))).rootfs;
}

/** The debug line that says where a layer's diffID came from. */
export function diffIdLine(output: string, id: string): string {
  return output.split("\n").find((l) => l.includes(`Layer '${id}': diffID`)) ?? `(no diffID line for ${id})`;
}
