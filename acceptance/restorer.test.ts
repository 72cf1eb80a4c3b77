import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "smol-toml";
import { beforeAll, describe, expect, it } from "vitest";
import { buildRunImage, expectNoLeakedProcesses, pushImage, type BuiltImage } from "../test/harness/index.js";
import { useFaultProxy } from "../test/harness/vitest/use-fault-proxy.js";
import { useRegistry } from "../test/harness/vitest/use-registry.js";
import { useTempDir } from "../test/harness/vitest/use-temp-dir.js";
import { buildCacheLayers, cacheMetadataJson, layerEntries, pushCacheImage, writeVolumeCache, type CachedLayer } from "./helpers/cache.js";
import { at, registryAuth, runToml, TAR_MTIME, writeText } from "./helpers/fixtures.js";
import { runLifecycle, type RunOptions } from "./helpers/lifecycle.js";

expectNoLeakedProcesses();
const regA = useRegistry("plain"); // mirrors and caches
const regH = useRegistry("htpasswd"); // the run.toml primary, behind auth
const primaryProxy = useFaultProxy(regH); // counts every request that reaches the primary
const temp = useTempDir("restorer-acceptance");

let runImage: BuiltImage;
let mirrorDigest = "";
let n = 0;

const GROUP = `[[group]]\n  id = "acme/node"\n  version = "1.0.0"\n  api = "0.10"\n\n[[group]]\n  id = "acme/npm"\n  version = "2.0.0"\n  api = "0.10"\n`;

interface Workspace {
  readonly layers: string;
  readonly kaniko: string;
  readonly cache: string;
}

function workspace(): Workspace {
  const dir = join(temp(), `ws-${++n}`);
  const ws = { layers: join(dir, "layers"), kaniko: join(dir, "kaniko"), cache: join(dir, "cache") };
  mkdirSync(ws.layers, { recursive: true });
  mkdirSync(ws.cache, { recursive: true });
  writeFileSync(join(ws.layers, "group.toml"), GROUP);
  return ws;
}

function restorer(ws: Workspace, args: string[], options: RunOptions = {}) {
  return runLifecycle("restorer", ["-no-color", "-layers", ws.layers, ...args], {
    ...options,
    env: { CNB_KANIKO_DIR: ws.kaniko, ...options.env },
  });
}

function readToml(path: string): unknown {
  return parse(readFileSync(path, "utf8"));
}

/** analyzed.toml with the given run image and previous-image metadata. */
function writeAnalyzed(ws: Workspace, run: { reference: string; image?: string; extend?: boolean }, metadata = ""): void {
  const lines = ["[image]", '  reference = ""', "", metadata, "[run-image]", `  reference = ${JSON.stringify(run.reference)}`];
  if (run.image) lines.push(`  image = ${JSON.stringify(run.image)}`);
  if (run.extend) lines.push("  extend = true");
  writeText(join(ws.layers, "analyzed.toml"), `${lines.join("\n")}\n`);
}

beforeAll(async () => {
  runImage = await buildRunImage(join(temp(), "run-layout"), { baseId: "io.acme.base" });
  [mirrorDigest] = await Promise.all([pushImage(runImage, regA(), "acme/run:mirror"), pushImage(runImage, regH(), "acme/run:1")]);
});

describe("run image (API 0.14, issue 1590)", () => {
  const mirror = () => `${regA().host}/acme/run:mirror`;
  const primary = () => `${primaryProxy().host}/acme/run:1`;

  it("keeps the analyzer's mirror, pulls it for extension and never contacts the unreadable primary", async () => {
    const ws = workspace();
    const run = runToml(join(ws.layers, "run.toml"), [{ image: primary(), mirrors: [mirror()] }]);
    writeAnalyzed(ws, { reference: `${regA().host}/acme/run@${mirrorDigest}`, image: mirror(), extend: true });
    const r = await restorer(ws, ["-run", run, "-log-level", "debug"], { platformApi: "0.14" });
    expect(r.code, r.stdout).toBe(0);
    expect(primaryProxy().count()).toBe(0);
    const md = readToml(join(ws.layers, "analyzed.toml"));
    expect(at(md, "run-image", "image")).toBe(mirror());
    expect(at(md, "run-image", "reference")).toBe(`${regA().host}/acme/run@${mirrorDigest}`);
    expect(at(md, "run-image", "target", "id")).toBe("io.acme.base");
    expect(existsSync(join(ws.kaniko, "cache", "base", mirrorDigest, "index.json"))).toBe(true);
  });

  it("keeps the mirror with -daemon even when the primary is readable", async () => {
    const ws = workspace();
    const run = runToml(join(ws.layers, "run.toml"), [{ image: `${regH().host}/acme/run:1`, mirrors: [mirror()] }]);
    writeAnalyzed(ws, { reference: `${regA().host}/acme/run@${mirrorDigest}`, image: mirror() });
    const r = await restorer(ws, ["-run", run, "-daemon"], { platformApi: "0.14", env: { CNB_REGISTRY_AUTH: registryAuth(regH()) } });
    expect(r.code, r.stdout).toBe(0);
    expect(at(readToml(join(ws.layers, "analyzed.toml")), "run-image", "image")).toBe(mirror());
  });

  it("fails when the selected image is listed but not accessible", async () => {
    const ws = workspace();
    const run = runToml(join(ws.layers, "run.toml"), [{ image: primary(), mirrors: [mirror()] }]);
    writeAnalyzed(ws, { reference: `${regH().host}/acme/run@${mirrorDigest}`, image: primary() });
    const r = await restorer(ws, ["-run", run], { platformApi: "0.14" });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`selected run image '${primary()}' is not accessible`);
    expect(primaryProxy().count({ method: "HEAD", path: "/v2/acme/run/manifests/1" })).toBeGreaterThan(0);
    expect(primaryProxy().count({ path: /\/v2\/acme\/run\/manifests\/(?!1$)/ })).toBe(0);
  });

  it("makes no access probe for a run image that run.toml does not list", async () => {
    const ws = workspace();
    const run = runToml(join(ws.layers, "run.toml"), [{ image: mirror() }]);
    writeAnalyzed(ws, { reference: `${primaryProxy().host}/acme/run@${mirrorDigest}`, image: primary() });
    const r = await restorer(ws, ["-run", run], { platformApi: "0.14" });
    expect(r.code, r.stdout).toBe(0);
    expect(primaryProxy().count()).toBe(0);
  });

  it("does not check on Platform API 0.13 and rejects -run there", async () => {
    const ws = workspace();
    writeAnalyzed(ws, { reference: `${primaryProxy().host}/acme/run@${mirrorDigest}`, image: primary() });
    const r = await restorer(ws, [], { platformApi: "0.13" });
    expect(r.code, r.stdout).toBe(0);
    expect(primaryProxy().count()).toBe(0);
    expect((await restorer(ws, ["-run", "/x"], { platformApi: "0.13" })).code).toBe(2);
  });

  it("runs as pack invokes it: -cache-dir only, no -run and no /cnb/run.toml", async () => {
    const ws = workspace();
    writeAnalyzed(ws, { reference: `${primaryProxy().host}/acme/run@${mirrorDigest}`, image: primary() });
    const r = await restorer(ws, ["-cache-dir", ws.cache], { platformApi: "0.14", env: { CNB_USER_ID: "0", CNB_GROUP_ID: "0" } });
    expect(r.code, r.stdout).toBe(0);
    expect(primaryProxy().count()).toBe(0);
  });
});

describe("layer metadata and contents (F25-F35, F39)", () => {
  const appLayer = (sha: string, types: { launch: boolean; build: boolean; cache: boolean }, data: Record<string, unknown> = {}) => ({ sha, data, ...types });
  const metadataToml = (layers: Record<string, ReturnType<typeof appLayer>>) => {
    const lines = ["[metadata]", "  [[metadata.buildpacks]]", '    key = "acme/node"', '    version = "1.0.0"', "    [metadata.buildpacks.store.metadata]", "      counter = 3"];
    for (const [name, l] of Object.entries(layers)) {
      lines.push(`    [metadata.buildpacks.layers.${name}]`, `      sha = "${l.sha}"`, `      launch = ${l.launch}`, `      build = ${l.build}`, `      cache = ${l.cache}`);
      lines.push(`      [metadata.buildpacks.layers.${name}.metadata]`, ...Object.entries(l.data).map(([k, v]) => `        ${k} = ${JSON.stringify(v)}`));
    }
    return `${lines.join("\n")}\n`;
  };
  const cached = (ws: Workspace, name: string, types: CachedLayer["types"], tamper?: CachedLayer["tamper"]): CachedLayer => ({
    buildpack: "acme/node",
    name,
    types,
    data: { from: "cache" },
    files: layerEntries(ws.layers, "acme_node", name, { "content.txt": `${name} contents` }),
    tamper,
  });

  it("restores per the launch/build/cache matrix from a volume cache (F25-F30)", async () => {
    const ws = workspace();
    const built = await buildCacheLayers([
      cached(ws, "deps", { launch: true, cache: true }),
      cached(ws, "stale", { launch: true, cache: true }),
      cached(ws, "buildonly", { build: true, cache: true }),
    ]);
    writeVolumeCache(ws.cache, built, cacheMetadataJson(built));
    const [deps, stale] = built;
    writeAnalyzed(
      ws,
      { reference: "" },
      metadataToml({
        deps: appLayer(deps?.diffId ?? "", { launch: true, build: false, cache: true }, { version: "1" }),
        stale: appLayer(`sha256:${"9".repeat(64)}`, { launch: true, build: false, cache: true }),
        launchonly: appLayer(`sha256:${"8".repeat(64)}`, { launch: true, build: false, cache: false }, { keep: "me" }),
        rebuild: appLayer(`sha256:${"7".repeat(64)}`, { launch: true, build: true, cache: false }),
        uncached: appLayer(`sha256:${"6".repeat(64)}`, { launch: true, build: false, cache: true }),
      }),
    );
    expect(stale).toBeDefined();
    const r = await restorer(ws, ["-cache-dir", ws.cache]);
    expect(r.code, r.stdout).toBe(0);
    const bp = join(ws.layers, "acme_node");
    expect(readFileSync(join(bp, "store.toml"), "utf8")).toContain("counter");
    expect(readFileSync(join(bp, "deps", "content.txt"), "utf8")).toBe("deps contents");
    expect(at(readToml(join(bp, "deps.toml")), "metadata", "version")).toBe("1");
    expect(r.stdout).toContain('Restoring data for "acme/node:deps" from cache');
    const launchOnly = readToml(join(bp, "launchonly.toml"));
    expect(at(launchOnly, "metadata", "keep")).toBe("me");
    expect(at(launchOnly, "types")).toBeUndefined();
    expect(existsSync(join(bp, "launchonly"))).toBe(false);
    expect(existsSync(join(bp, "rebuild.toml"))).toBe(false);
    expect(existsSync(join(bp, "uncached.toml"))).toBe(false);
    expect(existsSync(join(bp, "stale.toml"))).toBe(false);
    expect(existsSync(join(bp, "stale"))).toBe(false);
    expect(r.stdout).toContain('Removing "acme/node:stale", wrong sha');
    expect(readFileSync(join(bp, "buildonly", "content.txt"), "utf8")).toBe("buildonly contents");
  });

  it("restores cache-only launch layers on API 0.14 but not 0.13 (F31)", async () => {
    for (const [api, restored] of [["0.14", true], ["0.13", false]] as const) {
      const ws = workspace();
      const built = await buildCacheLayers([cached(ws, "cacheonly", { launch: true, cache: true })]);
      writeVolumeCache(ws.cache, built, cacheMetadataJson(built));
      writeAnalyzed(ws, { reference: "" });
      const r = await restorer(ws, ["-cache-dir", ws.cache], { platformApi: api });
      expect(r.code, r.stdout).toBe(0);
      expect(existsSync(join(ws.layers, "acme_node", "cacheonly.toml")), api).toBe(restored);
      expect(existsSync(join(ws.layers, "acme_node", "cacheonly", "content.txt")), api).toBe(restored);
    }
  });

  it("restores nothing but store.toml with -skip-layers (F25, F32)", async () => {
    const ws = workspace();
    const built = await buildCacheLayers([cached(ws, "deps", { cache: true })]);
    writeVolumeCache(ws.cache, built, cacheMetadataJson(built));
    writeAnalyzed(ws, { reference: "" }, metadataToml({ launchonly: appLayer(`sha256:${"8".repeat(64)}`, { launch: true, build: false, cache: false }) }));
    const r = await restorer(ws, ["-cache-dir", ws.cache, "-skip-layers"]);
    expect(r.code, r.stdout).toBe(0);
    expect(readdirSync(join(ws.layers, "acme_node"))).toEqual(["store.toml"]);
  });

  it("skips a tampered volume cache layer with a warning and exit 0 (F33)", async () => {
    const ws = workspace();
    const built = await buildCacheLayers([cached(ws, "deps", { cache: true }, (t) => Buffer.concat([t.subarray(0, 600), Buffer.from("X"), t.subarray(601)]))]);
    writeVolumeCache(ws.cache, built, cacheMetadataJson(built));
    writeAnalyzed(ws, { reference: "" });
    const r = await restorer(ws, ["-cache-dir", ws.cache]);
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toContain("Warning: Skipping restore for layer acme/node:deps");
    expect(existsSync(join(ws.layers, "acme_node", "deps", "content.txt"))).toBe(false);
  });

  it("exits 1 for a cache dir that does not exist and warns about a missing analyzed.toml (F34, F35)", async () => {
    const ws = workspace();
    const missing = await restorer(ws, ["-cache-dir", join(ws.cache, "nope")]);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toContain("failed to create volume cache");
    const ws2 = workspace();
    const r = await restorer(ws2, []);
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toContain(`No analyzed metadata found at path "${join(ws2.layers, "analyzed.toml")}"`);
    expect(existsSync(join(ws2.layers, "analyzed.toml"))).toBe(true);
  });

  it("distributes cached SBOM files and removes <layers>/sbom (F39)", async () => {
    const ws = workspace();
    const sbomFiles = [
      { path: ws.layers, dir: true },
      { path: `${ws.layers}/sbom`, dir: true },
      { path: `${ws.layers}/sbom/cache`, dir: true },
      { path: `${ws.layers}/sbom/cache/acme_node`, dir: true },
      { path: `${ws.layers}/sbom/cache/acme_node/deps`, dir: true },
      { path: `${ws.layers}/sbom/cache/acme_node/deps/sbom.cdx.json`, content: '{"bomFormat":"CycloneDX"}' },
    ];
    const [deps, sbom] = await buildCacheLayers([cached(ws, "deps", { cache: true }), { buildpack: "sbom", name: "sbom", types: {}, files: sbomFiles }]);
    if (!deps || !sbom) throw new Error("fixture");
    writeVolumeCache(ws.cache, [deps, sbom], cacheMetadataJson([deps], sbom.diffId));
    writeAnalyzed(ws, { reference: "" });
    const r = await restorer(ws, ["-cache-dir", ws.cache]);
    expect(r.code, r.stdout).toBe(0);
    expect(readFileSync(join(ws.layers, "acme_node", "deps.sbom.cdx.json"), "utf8")).toContain("CycloneDX");
    expect(existsSync(join(ws.layers, "sbom"))).toBe(false);
  });
});

describe("build image and ownership", () => {
  it("saves the -build-image manifest for kaniko and records its digest (API 0.10+)", async () => {
    const ws = workspace();
    writeAnalyzed(ws, { reference: `${regA().host}/acme/run@${mirrorDigest}`, image: `${regA().host}/acme/run:mirror` });
    const r = await restorer(ws, ["-build-image", `${regA().host}/acme/run:mirror`], { platformApi: "0.13" });
    expect(r.code, r.stdout).toBe(0);
    expect(at(readToml(join(ws.layers, "analyzed.toml")), "build-image", "reference")).toBe(`${regA().host}/acme/run@${mirrorDigest}`);
    const saved = join(ws.kaniko, "cache", "base", mirrorDigest);
    expect(JSON.parse(readFileSync(join(saved, "index.json"), "utf8"))).toMatchObject({ manifests: [{ digest: mirrorDigest }] });
    const missing = await restorer(workspace(), ["-build-image", `${regA().host}/acme/nothing:1`], { platformApi: "0.13" });
    expect(missing.code).toBe(1);
  });

  it("restores cached files owned by -uid/-gid after dropping privileges", async () => {
    const ws = workspace();
    chmodSync(temp(), 0o755);
    chmodSync(join(ws.layers, ".."), 0o755);
    const built = await buildCacheLayers([
      { buildpack: "acme/node", name: "deps", types: { cache: true }, files: layerEntries(ws.layers, "acme_node", "deps", { "lib.txt": "lib" }) },
    ]);
    writeVolumeCache(ws.cache, built, cacheMetadataJson(built));
    writeAnalyzed(ws, { reference: "" });
    const r = await restorer(ws, ["-cache-dir", ws.cache, "-uid", "1234", "-gid", "2345"]);
    expect(r.code, r.stdout).toBe(0);
    const st = statSync(join(ws.layers, "acme_node", "deps", "lib.txt"));
    expect([st.uid, st.gid]).toEqual([1234, 2345]);
    expect(st.mtime.toISOString()).toBe(TAR_MTIME.toISOString());
    expect(st.mode & 0o777).toBe(0o644);
    expect(statSync(ws.layers).uid).toBe(1234);
  });
});

describe("image cache and unsafe caches", () => {
  it("restores from an image cache", async () => {
    const ws = workspace();
    const built = await buildCacheLayers([
      { buildpack: "acme/npm", name: "modules", types: { cache: true }, files: layerEntries(ws.layers, "acme_npm", "modules", { "a/b.txt": "npm modules" }) },
    ]);
    await pushCacheImage(regA(), `acme/cache:${n}`, join(temp(), "blobs"), built, cacheMetadataJson(built));
    writeAnalyzed(ws, { reference: "" });
    const r = await restorer(ws, ["-cache-image", `${regA().host}/acme/cache:${n}`]);
    expect(r.code, r.stdout).toBe(0);
    expect(readFileSync(join(ws.layers, "acme_npm", "modules", "a", "b.txt"), "utf8")).toBe("npm modules");
  });

  it("warns and exits 0 when the cache image does not exist", async () => {
    const ws = workspace();
    writeAnalyzed(ws, { reference: "" });
    const r = await restorer(ws, ["-cache-image", `${regA().host}/acme/cache:none`]);
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toContain("Layer cache not found");
  });

  it("refuses a malicious cache tar and writes nothing outside the layers directory", async () => {
    const ws = workspace();
    const outside = join(temp(), `outside-${n}`);
    const root = `${ws.layers}/acme_node/evil`;
    const layers = await buildCacheLayers([
      { buildpack: "acme/node", name: "evil", types: { cache: true }, files: [...layerEntries(ws.layers, "acme_node", "evil", { "ok.txt": "fine" }), { path: `${root}/../../../outside-${n}/escaped.txt`, content: "pwned" }] },
      {
        buildpack: "acme/node",
        name: "link",
        types: { cache: true },
        // a symlink escaping the layers dir, then a file written through it
        files: [...layerEntries(ws.layers, "acme_node", "link", {}), { path: `${ws.layers}/acme_node/link/out`, symlink: outside }, { path: `${ws.layers}/acme_node/link/out/escaped2.txt`, content: "pwned" }],
      },
    ]);
    writeVolumeCache(ws.cache, layers, cacheMetadataJson(layers));
    mkdirSync(outside, { recursive: true });
    writeAnalyzed(ws, { reference: "" });
    const r = await restorer(ws, ["-cache-dir", ws.cache]);
    expect(r.stdout).toMatch(/refusing to extract/);
    expect(r.stdout).toContain("acme/node:evil");
    expect(r.stdout).toContain("acme/node:link");
    expect(readdirSync(outside)).toEqual([]);
    expect(existsSync(join(ws.layers, "acme_node", "evil", "ok.txt"))).toBe(false);
    expect(existsSync(join(ws.layers, "acme_node", "link", "out"))).toBe(false);
    expect(r.code).toBe(0);
  });

  it("skips an image cache layer whose blob was corrupted in the registry", async () => {
    const ws = workspace();
    const built = await buildCacheLayers([
      { buildpack: "acme/npm", name: "modules", types: { cache: true }, files: layerEntries(ws.layers, "acme_npm", "modules", { "x.txt": "x".repeat(4096) }) },
    ]);
    const repo = `acme/cache-corrupt:${n}`;
    await pushCacheImage(regA(), repo, join(temp(), "blobs"), built, cacheMetadataJson(built));
    // flip a byte of every layer blob file in the registry's storage
    const blobsDir = join(regA().storageDir, "docker", "registry", "v2", "blobs", "sha256");
    const { gzipSync } = await import("node:zlib");
    const modules = built[0];
    if (!modules) throw new Error("fixture");
    const expected = gzipSync(modules.tar);
    for (const prefix of readdirSync(blobsDir)) {
      for (const hex of readdirSync(join(blobsDir, prefix))) {
        const data = join(blobsDir, prefix, hex, "data");
        const bytes = readFileSync(data);
        if (bytes.equals(expected)) {
          bytes.writeUInt8(bytes.readUInt8(bytes.length - 10) ^ 0xff, bytes.length - 10);
          writeFileSync(data, bytes);
        }
      }
    }
    writeAnalyzed(ws, { reference: "" });
    const r = await restorer(ws, ["-cache-image", `${regA().host}/${repo}`]);
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toContain("Warning: Skipping restore for layer acme/npm:modules");
    expect(existsSync(join(ws.layers, "acme_npm", "modules", "x.txt"))).toBe(false);
  });

  it("rejects positional arguments (F24)", async () => {
    const ws = workspace();
    const r = await restorer(ws, ["extra"]);
    expect(r.code).toBe(3);
  });
});

