// The exporter when things go wrong around it (issue 11 item 4): exporters killed with SIGKILL
// leave temp dirs that the next export removes; exporters sharing one -cache-dir never leave a
// cache whose metadata names a missing tar; a FIFO in the cache cannot block the cache step; a
// malformed analyzed.toml is reported as such; the SBOM copy never writes through a symlink out
// of the layers directory.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { execFileSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { isCompleteCache } from "../src/cache/volume-cache-recovery.js";
import { currentProcessIdentity } from "../src/util/process-identity.js";
import { buildRunImage, expectNoLeakedProcesses, pushImage } from "../test/harness/index.js";
import { useRegistry } from "../test/harness/vitest/use-registry.js";
import { useTempDir } from "../test/harness/vitest/use-temp-dir.js";
import { childPath, LIFECYCLE_DIR, runLifecycle, type RunOptions } from "./helpers/lifecycle.js";
import { createWorkspace, exporterArgs, writeBuildOutput, type BuildSpec, type Workspace } from "./helpers/workspace.js";

expectNoLeakedProcesses();
const reg = useRegistry("plain");
const temp = useTempDir("exporter-crash-sharing");

const SHARED_RUNS = Number(process.env.SHARED_CACHE_RUNS ?? "6");
const METADATA = "io.buildpacks.lifecycle.cache.metadata";

function spec(content: string): BuildSpec {
  return {
    group: [{ id: "acme/node", version: "1.0.0" }],
    layers: [
      { bp: "acme/node", name: "deps", types: { launch: true, cache: true }, files: { "lib.txt": content } },
      { bp: "acme/node", name: "tools", types: { build: true, cache: true }, files: { "gcc": `gcc ${content.slice(0, 16)}` } },
    ],
    app: { "server.js": "console.log('hi')" },
    processes: [{ type: "web", command: ["node", "server.js"], default: true }],
  };
}

let n = 0;
async function prepared(content = "deps", options: RunOptions = {}): Promise<{ ws: Workspace; image: string }> {
  const ws = createWorkspace(join(temp(), `ws-${++n}`), spec(content), `[[images]]\n  image = "${reg().host}/acme/run:1"\n`);
  const image = `${reg().host}/acme/app:${n}`;
  const r = await runLifecycle("analyzer", ["-no-color", "-layers", ws.layers, "-run", ws.run, image], options);
  expect(r.code, r.stdout).toBe(0);
  return { ws, image };
}

function exporter(ws: Workspace, image: string, extra: string[], options: RunOptions = {}) {
  return runLifecycle("exporter", ["-no-color", ...exporterArgs(ws), ...extra, image], options);
}

beforeAll(async () => {
  const run = await buildRunImage(join(temp(), "run-layout"), {});
  await pushImage(run, reg(), "acme/run:1");
});

describe("temp dirs of killed exporters", () => {
  /** Starts an exporter and SIGKILLs it as soon as its temp dir exists; resolves once it is dead. */
  async function killMidExport(ws: Workspace, image: string, tmp: string): Promise<void> {
    const child = spawn(join(LIFECYCLE_DIR, "exporter"), ["-no-color", ...exporterArgs(ws), image], {
      env: { PATH: childPath(), HOME: process.env.HOME ?? "/root", CNB_PLATFORM_API: "0.14", TMPDIR: tmp },
      stdio: "ignore",
    });
    const closed = new Promise((resolve) => child.on("close", resolve));
    const before = new Set(readdirSync(tmp));
    const started = () => readdirSync(tmp).some((e) => e.startsWith("cnb-export-") && !before.has(e));
    for (let i = 0; i < 2000 && !started(); i++) await new Promise((r) => setTimeout(r, 5));
    child.kill("SIGKILL");
    await closed;
  }

  it("are removed when the next export starts (dead owner; or no known owner and a day old)", async () => {
    const tmp = join(temp(), "tmp-kills");
    mkdirSync(tmp);
    // big, incompressible layer: the export is still writing blobs when it is killed
    const { ws, image } = await prepared(randomBytes(8 << 20).toString("base64"));
    for (let i = 0; i < 3; i++) await killMidExport(ws, image, tmp);
    // each export started removes the dir of the one killed before it: one is left, not three
    const killed = readdirSync(tmp).filter((e) => e.startsWith("cnb-export-"));
    expect(killed).toHaveLength(1);
    expect(JSON.parse(readFileSync(join(tmp, killed[0] ?? "", ".owner"), "utf8"))).toMatchObject({ pid: expect.any(Number) as number });
    // another (live) owner's dir, a fresh dir without owner, and an abandoned one without owner
    mkdirSync(join(tmp, "cnb-export-LIVE01"));
    writeFileSync(join(tmp, "cnb-export-LIVE01", ".owner"), JSON.stringify(currentProcessIdentity()));
    mkdirSync(join(tmp, "cnb-export-FRESH1"));
    mkdirSync(join(tmp, "cnb-export-OLD001"));
    writeFileSync(join(tmp, "cnb-export-OLD001", "layer.tar.gz"), "x");
    const twoDaysAgo = new Date(Date.now() - 2 * 24 * 3600 * 1000);
    utimesSync(join(tmp, "cnb-export-OLD001"), twoDaysAgo, twoDaysAgo);
    // a dir killed before it got its final name (and so its owner file) is gone after a minute
    mkdirSync(join(tmp, ".cnb-export-HIDOLD"));
    const twoMinutesAgo = new Date(Date.now() - 2 * 60 * 1000);
    utimesSync(join(tmp, ".cnb-export-HIDOLD"), twoMinutesAgo, twoMinutesAgo);
    // a symlink with the same name pattern is never followed or removed
    execFileSync("ln", ["-s", "/etc", join(tmp, "cnb-export-LINK01")]);

    const small = await prepared();
    const r = await exporter(small.ws, small.image, [], { env: { TMPDIR: tmp } });
    expect(r.code, r.stdout).toBe(0);
    expect(readdirSync(tmp).sort()).toEqual(["cnb-export-FRESH1", "cnb-export-LINK01", "cnb-export-LIVE01"]);
    expect(lstatSync(join(tmp, "cnb-export-LINK01")).isSymbolicLink()).toBe(true);
    expect(existsSync("/etc/passwd")).toBe(true);
  });
});

describe("exporters sharing one -cache-dir", () => {
  it(`leave a whole cache every time, never metadata naming a missing tar (${SHARED_RUNS} rounds of 2 concurrent exports)`, async () => {
    const cacheDir = join(temp(), "shared-cache");
    mkdirSync(cacheDir);
    const problems: string[] = [];
    for (let round = 0; round < SHARED_RUNS; round++) {
      const [a, b] = await Promise.all([prepared(`a${round} `.repeat(50_000)), prepared(`b${round} `.repeat(50_000))]);
      if (!a || !b) throw new Error("fixture");
      const results = await Promise.all([a, b].map((x) => exporter(x.ws, x.image, ["-cache-dir", cacheDir])));
      for (const r of results) {
        if (r.code !== 0 || r.stdout.includes("Warning: Failed to export cache")) problems.push(`round ${round}: code ${r.code}: ${r.stdout.split("\n").filter((l) => /Warning|ERROR/.test(l)).join(" | ")}`);
      }
      const committed = join(cacheDir, "committed");
      if (!(await isCompleteCache(committed, METADATA))) problems.push(`round ${round}: the cache metadata names a missing tar`);
      const md = JSON.parse(readFileSync(join(committed, METADATA), "utf8")) as { buildpacks: { layers: Record<string, { sha: string }> }[] };
      const named = md.buildpacks.flatMap((bp) => Object.values(bp.layers).map((l) => `${l.sha}.tar`)).sort();
      const tars = readdirSync(committed).filter((f) => f.endsWith(".tar")).sort();
      if (JSON.stringify(named) !== JSON.stringify(tars) || named.length !== 2) problems.push(`round ${round}: metadata names [${named.join(",")}], committed has [${tars.join(",")}]`);
      if (readdirSync(cacheDir).some((e) => e === "commit.lock" || e === "committed-backup")) problems.push(`round ${round}: left ${readdirSync(cacheDir).join(",")}`);
    }
    expect(problems).toEqual([]);
  });
});

describe("a FIFO in the cache directory", () => {
  it("does not block the cache step: the layer is re-added instead of reused (exit 0)", async () => {
    const { ws, image } = await prepared();
    const first = await exporter(ws, image, ["-cache-dir", ws.cache]);
    expect(first.code, first.stdout).toBe(0);
    const committed = join(ws.cache, "committed");
    const tars = readdirSync(committed).filter((f) => f.endsWith(".tar"));
    expect(tars).toHaveLength(2);
    for (const t of tars) {
      rmSync(join(committed, t));
      execFileSync("mkfifo", [join(committed, t)]);
    }
    writeBuildOutput(ws, spec("deps"));
    const r = await runLifecycle("exporter", ["-no-color", ...exporterArgs(ws), "-cache-dir", ws.cache, image], { timeoutMs: 30_000 });
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toMatch(/Warning: Skipping reuse for layer acme\/node:deps: failed to find cache layer with SHA '[^']+': .* is a FIFO, not a regular file/);
    expect(r.stdout).toContain("Adding cache layer 'acme/node:deps'");
    for (const t of readdirSync(committed).filter((f) => f.endsWith(".tar"))) expect(lstatSync(join(committed, t)).isFile()).toBe(true);
  });
});

describe("a malformed analyzed.toml", () => {
  it("is reported with its parse error and path (exit 3), not as a missing run image", async () => {
    const { ws, image } = await prepared();
    const analyzed = join(ws.layers, "analyzed.toml");
    writeFileSync(analyzed, '[run-image]\n  reference = "unterminated\n');
    const r = await exporter(ws, image, []);
    expect(r.code, r.stdout).toBe(3);
    const errors = r.stdout.split("\n").filter((l) => l.startsWith("ERROR: "));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(new RegExp(`^ERROR: failed to resolve inputs: failed to parse ${analyzed.replaceAll("/", "\\/")}: invalid TOML at line 2`));
    expect(r.stdout).not.toContain("run image not found");
  });
});

describe("the launcher SBOM copy into <layers>/sbom", () => {
  it("never writes through a symlink out of the layers directory (exit 62, nothing written outside)", async () => {
    const { ws, image } = await prepared();
    const sbomSource = join(ws.root, "launcher-sbom");
    mkdirSync(sbomSource);
    writeFileSync(join(sbomSource, "launcher.sbom.cdx.json"), '{"bomFormat":"CycloneDX"}');
    // as a previous image's SBOM layer restored by the analyzer could have left it
    const outside = join(ws.root, "outside");
    mkdirSync(outside);
    mkdirSync(join(ws.layers, "sbom", "launch"), { recursive: true });
    execFileSync("ln", ["-s", outside, join(ws.layers, "sbom", "launch", "buildpacksio_lifecycle")]);
    const r = await exporter(ws, image, ["-launcher-sbom", sbomSource]);
    expect(r.code, r.stdout).toBe(62);
    expect(r.stdout).toContain(`is a symlink to "${outside}", outside the layers directory`);
    expect(readdirSync(outside)).toEqual([]);
  });
});
