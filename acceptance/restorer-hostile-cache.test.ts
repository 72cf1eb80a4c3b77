// The restorer against a hostile or damaged cache (issue 11 item 4): cache files that are FIFOs or
// symlinks to devices never block the phase, a corrupt image cache layer is always skipped, and a
// full layers filesystem ends in the phase's error handling (issue 11 item 2, restorer side).
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { expectNoLeakedProcesses } from "../test/harness/index.js";
import { useRegistry } from "../test/harness/vitest/use-registry.js";
import { useTempDir } from "../test/harness/vitest/use-temp-dir.js";
import { buildCacheLayers, cacheMetadataJson, layerEntries, pushCacheImage, writeVolumeCache, type BuiltCacheLayer } from "./helpers/cache.js";
import { writeText } from "./helpers/fixtures.js";
import { runLifecycle, type RunResult } from "./helpers/lifecycle.js";

expectNoLeakedProcesses();
const reg = useRegistry("plain");
const temp = useTempDir("restorer-hostile-cache");

const RUNS = Number(process.env.CORRUPT_GZIP_RUNS ?? "8");
const GROUP = `[[group]]\n  id = "acme/node"\n  version = "1.0.0"\n  api = "0.10"\n`;

let n = 0;
function workspace() {
  const root = join(temp(), `ws-${++n}`);
  const ws = { root, layers: join(root, "layers"), cache: join(root, "cache") };
  mkdirSync(ws.layers, { recursive: true });
  mkdirSync(ws.cache, { recursive: true });
  writeFileSync(join(ws.layers, "group.toml"), GROUP);
  writeText(join(ws.layers, "analyzed.toml"), '[run-image]\n  reference = ""\n');
  return ws;
}

function restorer(layers: string, args: string[]): Promise<RunResult> {
  // a hang shows as SIGKILL (code 128) after 20 s instead of blocking the suite
  return runLifecycle("restorer", ["-no-color", "-layers", layers, ...args], { timeoutMs: 20_000 });
}

async function cachedDeps(layers: string, content = "x".repeat(8192)): Promise<BuiltCacheLayer> {
  const [deps] = await buildCacheLayers([{ buildpack: "acme/node", name: "deps", types: { cache: true }, files: layerEntries(layers, "acme_node", "deps", { "x.txt": content }) }]);
  if (!deps) throw new Error("fixture");
  return deps;
}

describe("volume cache files that are not regular files", () => {
  it("skips a cached layer tar that is a FIFO (no hang, exit 0)", async () => {
    const ws = workspace();
    const deps = await cachedDeps(ws.layers);
    writeVolumeCache(ws.cache, [deps], cacheMetadataJson([deps]));
    const tar = join(ws.cache, "committed", `${deps.diffId}.tar`);
    rmSync(tar);
    execFileSync("mkfifo", [tar]);
    const r = await restorer(ws.layers, ["-cache-dir", ws.cache]);
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toContain(`Warning: Skipping restore for layer acme/node:deps: failed to find cache layer with SHA '${deps.diffId}': ${tar} is a FIFO, not a regular file`);
    expect(existsSync(join(ws.layers, "acme_node", "deps", "x.txt"))).toBe(false);
  });

  it("skips a cached layer tar that is a symlink to /dev/zero (no endless read, exit 0)", async () => {
    const ws = workspace();
    const deps = await cachedDeps(ws.layers);
    writeVolumeCache(ws.cache, [deps], cacheMetadataJson([deps]));
    const tar = join(ws.cache, "committed", `${deps.diffId}.tar`);
    rmSync(tar);
    symlinkSync("/dev/zero", tar);
    const r = await restorer(ws.layers, ["-cache-dir", ws.cache]);
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toContain("Warning: Skipping restore for layer acme/node:deps:");
    expect(r.stdout).toContain("is a symbolic link, not a regular file");
  });

  it("treats a cache metadata file that is a FIFO as no metadata (no hang, exit 0)", async () => {
    const ws = workspace();
    mkdirSync(join(ws.cache, "committed"));
    execFileSync("mkfifo", [join(ws.cache, "committed", "io.buildpacks.lifecycle.cache.metadata")]);
    const r = await restorer(ws.layers, ["-cache-dir", ws.cache]);
    expect(r.code, r.stdout).toBe(0);
    expect(readdirSync(ws.layers).sort()).toEqual(["analyzed.toml", "group.toml"]);
  });
});

describe("image cache with a tampered gzip blob", () => {
  it(`skips the layer with a warning in every run (${RUNS} runs), never exit 42`, async () => {
    const layersDir = join(temp(), "gz-layers");
    // big enough to arrive in many chunks: gunzip fails long before the blob's digest is known
    const deps = await cachedDeps(layersDir, randomBytes(1 << 20).toString("base64"));
    const repo = `acme/cache-gz:${n}`;
    await pushCacheImage(reg(), repo, join(temp(), "blobs"), [deps], cacheMetadataJson([deps]));
    // break the first deflate block's header ("invalid code lengths set" / "invalid block type")
    const blobsDir = join(reg().storageDir, "docker", "registry", "v2", "blobs", "sha256");
    const expected = gzipSync(deps.tar);
    let tampered = 0;
    for (const prefix of readdirSync(blobsDir)) {
      for (const hex of readdirSync(join(blobsDir, prefix))) {
        const data = join(blobsDir, prefix, hex, "data");
        const bytes = readFileSync(data);
        if (!bytes.equals(expected)) continue;
        for (let i = 10; i < 16; i++) bytes[i] = 0xff;
        writeFileSync(data, bytes);
        tampered++;
      }
    }
    expect(tampered).toBe(1);
    const outcomes: string[] = [];
    for (let i = 0; i < RUNS; i++) {
      rmSync(layersDir, { recursive: true, force: true });
      mkdirSync(layersDir, { recursive: true });
      writeFileSync(join(layersDir, "group.toml"), GROUP);
      writeText(join(layersDir, "analyzed.toml"), '[run-image]\n  reference = ""\n');
      const r = await restorer(layersDir, ["-cache-image", `${reg().host}/${repo}`]);
      const skipped = r.stdout.includes("Warning: Skipping restore for layer acme/node:deps");
      outcomes.push(`code=${r.code} skipped=${skipped}${r.code === 0 ? "" : ` ${r.stdout.split("\n").filter((l) => l.startsWith("ERROR")).join(" ")}`}`);
      expect(existsSync(join(layersDir, "acme_node", "deps", "x.txt"))).toBe(false);
    }
    expect(outcomes.filter((o) => o !== "code=0 skipped=true"), outcomes.join("\n")).toEqual([]);
  });
});

describe("a layers directory on a full filesystem", () => {
  const mounts: string[] = [];
  afterAll(() => {
    for (const m of mounts) execFileSync("umount", [m]);
  });

  it("fails cleanly every time: exit 42, one ERROR: line, no stack (10 runs)", async () => {
    const outcomes: string[] = [];
    for (let i = 0; i < 10; i++) {
      const root = join(temp(), `full-${i}`);
      const layers = join(root, "layers");
      mkdirSync(layers, { recursive: true });
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=512k", "tmpfs", layers]);
      mounts.push(layers);
      // one big cached layer that cannot fit, then buildpacks whose metadata the loop still writes
      const ids = Array.from({ length: 12 }, (_, k) => `acme/bp${k}`);
      writeFileSync(join(layers, "group.toml"), ids.map((id) => `[[group]]\n  id = "${id}"\n  version = "1.0.0"\n  api = "0.10"\n`).join("\n"));
      writeText(join(layers, "analyzed.toml"), '[run-image]\n  reference = ""\n');
      const built = await buildCacheLayers(
        ids.map((id, k) => ({
          buildpack: id,
          name: "deps",
          types: { cache: true },
          data: { k },
          files: layerEntries(layers, id.replace("/", "_"), "deps", { "x.bin": k === 0 ? randomBytes(1 << 20).toString("base64") : "small" }),
        })),
      );
      const cache = join(root, "cache");
      writeVolumeCache(cache, built, cacheMetadataJson(built));
      const r = await restorer(layers, ["-cache-dir", cache]);
      const errors = r.stdout.split("\n").filter((l) => l.startsWith("ERROR: "));
      // the layer that did not fit was rolled back: no partial file, no temp file of it
      const leftovers = (readdirSync(layers, { recursive: true }) as string[]).filter((f) => (f.startsWith("acme_bp0") && f.endsWith("x.bin")) || f.includes(".extracting"));
      outcomes.push(`code=${r.code} errors=${errors.length} stderr=${r.stderr.trim().split("\n")[0] ?? ""} leftovers=${leftovers.join(",")}`);
    }
    expect(outcomes.filter((o) => o !== "code=42 errors=1 stderr= leftovers="), outcomes.join("\n")).toEqual([]);
  });
});
