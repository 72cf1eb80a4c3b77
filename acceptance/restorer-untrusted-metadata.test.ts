// The restorer against hostile metadata (issue 11 item 1 and the small items on names): layer
// names from analyzed.toml (the previous image's label) and from the cache metadata never become
// paths outside `<layers>/<bp>/`, and writes never follow a symlink out of the layers directory.
import { execFileSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { expectNoLeakedProcesses } from "../test/harness/index.js";
import { useRegistry } from "../test/harness/vitest/use-registry.js";
import { useTempDir } from "../test/harness/vitest/use-temp-dir.js";
import { buildCacheLayers, cacheMetadataJson, layerEntries, pushCacheImage, writeVolumeCache } from "./helpers/cache.js";
import { writeText } from "./helpers/fixtures.js";
import { runLifecycle, type RunResult } from "./helpers/lifecycle.js";

expectNoLeakedProcesses();
const reg = useRegistry("plain");
const temp = useTempDir("restorer-untrusted");

const GROUP = `[[group]]\n  id = "acme/node"\n  version = "1.0.0"\n  api = "0.10"\n`;
const SHA = (c: string) => `sha256:${c.repeat(64)}`;

interface Build {
  readonly root: string;
  readonly layers: string;
  readonly app: string;
  readonly cache: string;
}

let n = 0;
/** `<root>/{layers,workspace,cache}` with group.toml and an app file next to the layers dir. */
function build(group = GROUP): Build {
  const root = join(temp(), `b-${++n}`);
  const b = { root, layers: join(root, "layers"), app: join(root, "workspace"), cache: join(root, "cache") };
  for (const d of [b.layers, b.app, b.cache]) mkdirSync(d, { recursive: true });
  writeFileSync(join(b.layers, "group.toml"), group);
  writeFileSync(join(b.app, "pyproject.toml"), "[project]\nname = 'app'\n");
  return b;
}

/** analyzed.toml whose previous-image metadata has these layers for acme/node (TOML keys quoted). */
function analyzedWithLayers(b: Build, layers: Record<string, { launch?: boolean; build?: boolean; cache?: boolean; sha?: string }>, store = false, key = "acme/node"): void {
  const lines = ["[metadata]", "  [[metadata.buildpacks]]", `    key = ${JSON.stringify(key)}`, '    version = "1.0.0"'];
  if (store) lines.push("    [metadata.buildpacks.store.metadata]", "      counter = 3");
  for (const [name, l] of Object.entries(layers)) {
    lines.push(`    [metadata.buildpacks.layers.${JSON.stringify(name)}]`, `      sha = "${l.sha ?? SHA("1")}"`, `      launch = ${!!l.launch}`, `      build = ${!!l.build}`, `      cache = ${!!l.cache}`);
    lines.push(`      [metadata.buildpacks.layers.${JSON.stringify(name)}.metadata]`, '        planted = "yes"');
  }
  lines.push("[run-image]", '  reference = ""');
  writeText(join(b.layers, "analyzed.toml"), `${lines.join("\n")}\n`);
}

function restorer(b: Build, args: string[] = []): Promise<RunResult> {
  return runLifecycle("restorer", ["-no-color", "-layers", b.layers, ...args], { timeoutMs: 30_000 });
}

/** Every path under `dir` (relative), to show that nothing appeared. */
function tree(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).sort();
}

describe("layer names from analyzed.toml (the previous image's label)", () => {
  it("never writes outside <layers>/<bp>: '../../workspace/pyproject' and '../group' are skipped with a warning", async () => {
    const b = build();
    analyzedWithLayers(b, { "../../workspace/pyproject": { launch: true }, "../group": { launch: true }, "ok": { launch: true } });
    const appBefore = tree(b.app);
    const r = await restorer(b);
    expect(r.code, r.stdout).toBe(0);
    expect(readFileSync(join(b.app, "pyproject.toml"), "utf8")).toBe("[project]\nname = 'app'\n");
    expect(tree(b.app)).toEqual(appBefore);
    expect(readFileSync(join(b.layers, "group.toml"), "utf8")).toBe(GROUP);
    expect(r.stdout).toContain('Warning: Skipping layer "acme/node:../../workspace/pyproject" from the app image metadata: invalid layer name (contains "/")');
    expect(r.stdout).toContain('Warning: Skipping layer "acme/node:../group" from the app image metadata: invalid layer name (contains "/")');
    // the valid layer next to them is restored as usual
    expect(readFileSync(join(b.layers, "acme_node", "ok.toml"), "utf8")).toContain("planted");
  });

  it("skips '..', '.', an empty name and names with NUL or newline (no exit 42, no raw message)", async () => {
    const b = build();
    analyzedWithLayers(b, { "..": { launch: true }, ".": { launch: true }, "": { launch: true }, "a\u0000b": { launch: true }, "x\nERROR: forged": { launch: true } });
    const r = await restorer(b);
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toContain('Skipping layer "acme/node:.." from the app image metadata: invalid layer name (is "..")');
    expect(r.stdout).toContain('Skipping layer "acme/node:." from the app image metadata: invalid layer name (is ".")');
    expect(r.stdout).toContain('Skipping layer "acme/node:" from the app image metadata: invalid layer name (is empty)');
    expect(r.stdout).toContain('Skipping layer "acme/node:a\\u0000b" from the app image metadata: invalid layer name (contains a NUL byte)');
    expect(r.stdout).toContain('Skipping layer "acme/node:x\\nERROR: forged" from the app image metadata: invalid layer name (contains a control character)');
    expect(r.stdout.split("\n").filter((l) => l.startsWith("ERROR:"))).toEqual([]);
    expect(tree(b.layers).filter((p) => p.endsWith(".toml")).sort()).toEqual(["analyzed.toml", "group.toml"]);
  });
});

describe("layer names from the cache metadata", () => {
  const planted = (b: Build, name: string) => ({
    buildpack: "acme/node",
    name,
    types: { cache: true },
    data: { planted: "yes" },
    files: layerEntries(b.layers, "acme_node", "ok", { "f.txt": "f" }),
  });

  it("skips a volume cache layer named '../../outside/evil' and one with a NUL (exit 0, nothing outside)", async () => {
    const b = build();
    mkdirSync(join(b.root, "outside"));
    const built = await buildCacheLayers([planted(b, "../../outside/evil"), planted(b, "nul\u0000name")]);
    writeVolumeCache(b.cache, built, cacheMetadataJson(built));
    analyzedWithLayers(b, {});
    const r = await restorer(b, ["-cache-dir", b.cache]);
    expect(r.code, r.stdout).toBe(0);
    expect(readdirSync(join(b.root, "outside"))).toEqual([]);
    expect(r.stdout).toContain('Warning: Skipping layer "acme/node:../../outside/evil" from the cache metadata: invalid layer name (contains "/")');
    expect(r.stdout).toContain('Warning: Skipping layer "acme/node:nul\\u0000name" from the cache metadata: invalid layer name (contains a NUL byte)');
    expect(existsSync(join(b.layers, "acme_node"))).toBe(false);
  });

  it("skips the same names from an image cache", async () => {
    const b = build();
    mkdirSync(join(b.root, "outside"));
    const built = await buildCacheLayers([planted(b, "../../outside/evil")]);
    await pushCacheImage(reg(), `acme/evil-cache:${n}`, join(temp(), "blobs"), built, cacheMetadataJson(built));
    analyzedWithLayers(b, {});
    const r = await restorer(b, ["-cache-image", `${reg().host}/acme/evil-cache:${n}`]);
    expect(r.code, r.stdout).toBe(0);
    expect(readdirSync(join(b.root, "outside"))).toEqual([]);
    expect(r.stdout).toContain('Warning: Skipping layer "acme/node:../../outside/evil" from the cache metadata');
  });

  it("treats cache metadata nested deeper than a layer file can hold as no metadata", async () => {
    const b = build();
    const data = `${"[".repeat(5000)}"deep"${"]".repeat(5000)}`;
    mkdirSync(join(b.cache, "committed"), { recursive: true });
    const md = `{"sbom":{"sha":""},"buildpacks":[{"key":"acme/node","version":"1.0.0","layers":{"deps":{"sha":"${SHA("2")}","data":${data},"build":false,"launch":false,"cache":true}}}]}`;
    writeFileSync(join(b.cache, "committed", "io.buildpacks.lifecycle.cache.metadata"), md);
    analyzedWithLayers(b, {});
    const r = await restorer(b, ["-cache-dir", b.cache]);
    expect(r.code, r.stdout).toBe(0);
    expect(existsSync(join(b.layers, "acme_node", "deps.toml"))).toBe(false);
  });
});

describe("writes never follow a symlink out of the layers directory", () => {
  it("refuses a <layers>/<bp> that is a symlink out of <layers>: exit 42, nothing written there", async () => {
    const b = build();
    const outside = join(b.root, "etc");
    mkdirSync(outside);
    symlinkSync(outside, join(b.layers, "acme_node"));
    analyzedWithLayers(b, { deps: { launch: true } }, true);
    const r = await restorer(b);
    expect(r.code, r.stdout).toBe(42);
    const errors = r.stdout.split("\n").filter((l) => l.startsWith("ERROR: "));
    expect(errors).toEqual([`ERROR: failed to restore: "${join(b.layers, "acme_node")}" is a symlink to "${outside}", outside the layers directory "${b.layers}"`]);
    expect(readdirSync(outside)).toEqual([]);
  });

  it("accepts a <layers>/<bp> symlink that stays inside <layers>", async () => {
    const b = build();
    mkdirSync(join(b.layers, "real-node"));
    symlinkSync(join(b.layers, "real-node"), join(b.layers, "acme_node"));
    analyzedWithLayers(b, { deps: { launch: true } }, true);
    const r = await restorer(b);
    expect(r.code, r.stdout).toBe(0);
    expect(readdirSync(join(b.layers, "real-node")).sort()).toEqual(["deps.toml", "store.toml"]);
  });

  it("replaces a layer SBOM path that is a symlink instead of writing through it; skips a FIFO SBOM", async () => {
    const b = build();
    const outsideFile = join(b.root, "secret.txt");
    writeFileSync(outsideFile, "untouched");
    const sbom = await buildCacheLayers([
      {
        buildpack: "sbom",
        name: "sbom",
        types: {},
        files: [
          { path: b.layers, dir: true },
          { path: `${b.layers}/sbom`, dir: true },
          { path: `${b.layers}/sbom/cache`, dir: true },
          { path: `${b.layers}/sbom/cache/acme_node`, dir: true },
          { path: `${b.layers}/sbom/cache/acme_node/deps`, dir: true },
          { path: `${b.layers}/sbom/cache/acme_node/deps/sbom.cdx.json`, content: '{"bomFormat":"CycloneDX"}' },
        ],
      },
    ]);
    writeVolumeCache(b.cache, sbom, cacheMetadataJson([], sbom[0]?.diffId ?? ""));
    analyzedWithLayers(b, {});
    mkdirSync(join(b.layers, "acme_node"));
    symlinkSync(outsideFile, join(b.layers, "acme_node", "deps.sbom.cdx.json"));
    // a FIFO where the platform left a launch SBOM: reading it would block forever
    mkdirSync(join(b.layers, "sbom", "launch", "acme_node", "web"), { recursive: true });
    execFileSync("mkfifo", [join(b.layers, "sbom", "launch", "acme_node", "web", "sbom.spdx.json")]);
    const r = await restorer(b, ["-cache-dir", b.cache]);
    expect(r.code, r.stdout).toBe(0);
    expect(readFileSync(outsideFile, "utf8")).toBe("untouched");
    const restored = join(b.layers, "acme_node", "deps.sbom.cdx.json");
    expect(lstatSync(restored).isFile()).toBe(true);
    expect(readFileSync(restored, "utf8")).toContain("CycloneDX");
    expect(r.stdout).toMatch(/Warning: Skipping SBOM file ".*web\/sbom\.spdx\.json": .* is a FIFO, not a regular file/);
    expect(existsSync(join(b.layers, "acme_node", "web.sbom.spdx.json"))).toBe(false);
  });
});

describe("buildpack IDs from group.toml", () => {
  it("refuses an ID that escapes as a directory name ('..') with exit 1 before writing anything", async () => {
    const b = build(`[[group]]\n  id = ".."\n  version = "1.0.0"\n  api = "0.10"\n`);
    analyzedWithLayers(b, { deps: { launch: true } }, true, "..");
    const r = await restorer(b);
    expect(r.code, r.stdout).toBe(1);
    expect(r.stdout).toContain('failed to read group file: invalid buildpack ID "..": not usable as a directory name (is "..")');
    expect(existsSync(join(b.root, "store.toml"))).toBe(false);
    expect(existsSync(join(b.root, "deps.toml"))).toBe(false);
  });
});
