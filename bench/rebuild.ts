// `npm run bench -- rebuild [--runs 5] [--layers 4] [--layer-mib 128] [--app-mib 64] [--lifecycle <dir>]`
//
// Rebuilds with the restore record (README "The restore record"), with the BUILT phases
// (dist/lifecycle; `npm run build` first) against a plain harness registry. The exporter
// benchmark's workspace, its launch layers also cache = true, with a volume cache:
//   first build: analyzer → restorer (empty cache) → exporter (image and cache)
//   (U) rebuild, nothing changed: a fresh layers dir, analyzer → restorer (volume cache) → the
//       builder leaves the restored layers alone → exporter
//   (C) the same with one of the layers rewritten by the builder (same size, other bytes)
//   (N) (U) with the restore record deleted before the export: what the exporter does without it
//   (T) (U) for a workspace of tiny layers: the exporter's fixed cost (start-up, registry round trips)
//   (H) read + sha256 of the bytes the exporter's layers hold (layers, app, launcher, config), and
//       of the buildpack layers alone, in a child process
// Every run repeats (T), (U), (H), (C), interleaved; medians and min–max are reported, and the
// target is also computed per run ((U) − (T)) / (H) from three measurements taken back to back, which
// a shared machine's changing load disturbs less than a ratio of medians. Then (U)
// and (C) once more with the exporter under strace, for the bytes it reads from each place
// (timings are never taken from the traced runs). All data is in the page cache. MB = 10^6 bytes.
import { existsSync, statSync } from "node:fs";
import { rm } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { buildRunImage } from "../test/harness/fixtures/run-image.js";
import { pushImage } from "../test/harness/fixtures/push-image.js";
import { makeTempDir, type TempDir } from "../test/harness/process/temp-dir.js";
import { startRegistry, type RegistryHandle } from "../test/harness/registry/start-registry.js";
import { option, median } from "./_args.js";
import { readAndHash, writeFileList } from "./_exporter-baselines.js";
import { rewriteLayerTree } from "./_exporter-data.js";
import { measure, timedRun, type Sample } from "./_exporter-measure.js";
import { readsByPlace, tracedRun } from "./_rebuild-reads.js";
import { RebuildWorkspace } from "./_rebuild-workspace.js";

const MiB = 1024 * 1024;
const MB = 1e6;
const fixed = (n: number, digits = 2): string => n.toFixed(digits);
const secs = (n: number): string => `${fixed(n)} s`;
const mb = (n: number): string => `${fixed(n / MB, 1)} MB`;

/** Times of one build's phases. */
interface BuildTimes {
  readonly analyzer: Sample;
  readonly restorer: Sample;
  readonly exporter: Sample;
  /** The exporter's own `Timer: Exporter ran for …` (building the app image: no start-up, save or cache step). */
  readonly appImage?: number;
}
const total = (b: BuildTimes): number => b.analyzer.seconds + b.restorer.seconds + b.exporter.seconds;

/** Runs the phases of one workspace against the registry. */
class Builds {
  private n = 0;

  constructor(
    private readonly ws: RebuildWorkspace,
    private readonly registry: RegistryHandle,
    private readonly lifecycle: string,
    private readonly workDir: string,
    readonly repo: string,
  ) {}

  private env(): NodeJS.ProcessEnv {
    return { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", CNB_PLATFORM_API: "0.14" };
  }

  private image(tag: string): string {
    return `${this.registry.host}/${this.repo}:${tag}`;
  }

  private async phase(bin: string, args: readonly string[]): Promise<{ sample: Sample; stdout: string }> {
    let stdout = "";
    const sample = await measure(this.registry.pgid, async () => {
      const run = await timedRun(join(this.lifecycle, bin), ["-no-color", ...args], this.env(), join(this.workDir, `time-${++this.n}.txt`));
      stdout = run.stdout;
      return run;
    });
    return { sample, stdout };
  }

  private exporterArgs(tag: string): string[] {
    const out = this.ws.out;
    return ["-log-level", "debug", "-layers", out.layersDir, "-app", out.appDir, "-launcher", out.launcher, "-run", out.runToml, "-cache-dir", this.ws.cacheDir, this.image(tag)];
  }

  /** The first build (image `:first`). */
  async first(): Promise<BuildTimes> {
    const out = this.ws.out;
    const analyzer = await this.phase("analyzer", ["-layers", out.layersDir, "-run", out.runToml, this.image("first")]);
    const restorer = await this.phase("restorer", ["-layers", out.layersDir, "-cache-dir", this.ws.cacheDir]);
    const exporter = await this.phase("exporter", this.exporterArgs("first"));
    await this.ws.keepCache();
    return { analyzer: analyzer.sample, restorer: restorer.sample, exporter: exporter.sample };
  }

  /** Analyzer and restorer of a rebuild, then the builder (`change` is what it changes). */
  private async upToExport(tag: string, change?: () => Promise<void>): Promise<{ analyzer: Sample; restorer: Sample }> {
    const out = this.ws.out;
    await this.ws.reset();
    const analyzer = await this.phase("analyzer", ["-layers", out.layersDir, "-run", out.runToml, "-previous-image", this.image("first"), this.image(tag)]);
    const restorer = await this.phase("restorer", ["-layers", out.layersDir, "-cache-dir", this.ws.cacheDir]);
    await this.ws.builder();
    await change?.();
    return { analyzer: analyzer.sample, restorer: restorer.sample };
  }

  /** A timed rebuild; returns the times and the exporter's output. */
  async rebuild(tag: string, change?: () => Promise<void>): Promise<BuildTimes & { stdout: string }> {
    const before = await this.upToExport(tag, change);
    const exporter = await this.phase("exporter", this.exporterArgs(tag));
    return { ...before, exporter: exporter.sample, stdout: exporter.stdout, appImage: timerSeconds(exporter.stdout) };
  }

  /** A rebuild whose exporter runs under strace: the bytes it read, by place. */
  async traced(tag: string, change?: () => Promise<void>): Promise<{ reads: Map<string, number>; stdout: string }> {
    await this.upToExport(tag, change);
    const run = await tracedRun(join(this.lifecycle, "exporter"), ["-no-color", ...this.exporterArgs(tag)], this.env(), join(this.workDir, `strace-${tag}.txt`));
    const out = this.ws.out;
    const places = [
      ...out.layerDirs.map((dir) => ({ name: dir.slice(out.layersDir.length + 1), path: dir })),
      { name: "app", path: out.appDir },
      { name: "launcher", path: out.launcher },
      { name: "config", path: join(out.layersDir, "config") },
      { name: "cache tars", path: join(this.ws.cacheDir, "committed") },
    ];
    return { reads: readsByPlace(run.reads, places), stdout: run.stdout };
  }
}

/** Seconds of the exporter's `Timer: Exporter ran for 160ms` line (Go duration units ms and s); NaN without one. */
function timerSeconds(stdout: string): number {
  const m = /Timer: Exporter ran for ([\d.]+)(ms|s) /.exec(stdout);
  if (!m?.[1]) return Number.NaN;
  return Number(m[1]) / (m[2] === "ms" ? 1000 : 1);
}

/** Fails unless the built lifecycle exists. */
function lifecycleDir(args: readonly string[]): string {
  const i = args.indexOf("--lifecycle");
  const dir = i >= 0 && args[i + 1] ? resolve(args[i + 1]!) : join(process.cwd(), "dist", "lifecycle");
  if (!existsSync(join(dir, "exporter"))) throw new Error(`${dir}/exporter does not exist: run "npm run build" first`);
  return dir;
}

/** Lines of the exporter's output about its buildpack layers (provenance of the diffIDs, added layers). */
function layerLines(stdout: string): string[] {
  return stdout.split("\n").filter((l) => /^Layer 'bench\/[^']+': diffID|^Adding layer 'bench\/|^Adding cache layer/.test(l));
}

async function main(args: readonly string[]): Promise<void> {
  const runs = option(args, "runs", 5, true);
  const layerCount = option(args, "layers", 4, true);
  const layerMiB = option(args, "layer-mib", 128);
  const appMiB = option(args, "app-mib", 64);
  const lifecycle = lifecycleDir(args);
  let temp: TempDir | undefined;
  let registry: RegistryHandle | undefined;
  try {
    temp = await makeTempDir("bench-rebuild");
    const workDir = temp.path;
    registry = await startRegistry("plain");
    const runImage = `${registry.host}/bench/run:latest`;
    await pushImage(await buildRunImage(join(workDir, "run-layout")), registry, "bench/run:latest");

    let started = performance.now();
    const big = await RebuildWorkspace.create(join(workDir, "big"), { layers: layerCount, layerBytes: layerMiB * MiB, appBytes: appMiB * MiB, seed: 42, runImage, cache: true });
    const tiny = await RebuildWorkspace.create(join(workDir, "tiny"), { layers: layerCount, layerBytes: 4096, appBytes: 4096, seed: 7, runImage, cache: true });
    const out = big.out;
    console.log(
      `workspace: ${layerCount} cache+launch layers × ${layerMiB} MiB + ${appMiB} MiB app + launcher, ${out.files.length} files, ${mb(out.bytes)} ` +
        `(generated in ${fixed((performance.now() - started) / 1000, 1)} s); tiny: ${layerCount} × 4 KiB + 4 KiB app + the same launcher`,
    );
    console.log(`lifecycle ${lifecycle}; registry ${registry.url}; ${availableParallelism()} cores; ${runs} run(s)\n`);

    const layerFiles = out.files.filter((f) => out.layerDirs.some((d) => f.startsWith(`${d}/`)));
    const allList = await writeFileList(join(workDir, "all-files.txt"), out.files);
    const layerList = await writeFileList(join(workDir, "layer-files.txt"), layerFiles);
    const layerBytes = layerFiles.reduce((n, f) => n + statSync(f).size, 0);

    const builds = new Builds(big, registry, lifecycle, workDir, "bench/app");
    const tinyBuilds = new Builds(tiny, registry, lifecycle, workDir, "bench/tiny");
    started = performance.now();
    const first = await builds.first();
    await tinyBuilds.first();
    console.log(`first build: analyzer ${secs(first.analyzer.seconds)}, restorer ${secs(first.restorer.seconds)}, exporter ${secs(first.exporter.seconds)}, total ${secs(total(first))}`);

    const changedDir = out.layerDirs[0];
    if (!changedDir) throw new Error("no layers");
    const change = () => rewriteLayerTree(changedDir, layerMiB * MiB, 4242);
    const [changedBp = "", changedName = ""] = changedDir.slice(out.layersDir.length + 1).split("/");
    const changedId = `${changedBp.replace("_", "/")}:${changedName}`;
    const s = { unchanged: [] as BuildTimes[], noRecord: [] as BuildTimes[], changed: [] as BuildTimes[], tiny: [] as BuildTimes[], hashAll: [] as number[], hashLayers: [] as number[] };
    const dropRecord = () => rm(join(out.layersDir, ".restore-record.json"));
    for (let run = 1; run <= runs; run++) {
      // (T), (U) and (H) back to back, so that they share the machine's load of the moment
      s.tiny.push(await tinyBuilds.rebuild(`t${run}`));
      const u = await builds.rebuild(`u${run}`);
      const added = layerLines(u.stdout).filter((l) => l.startsWith("Adding"));
      if (added.length > 0) throw new Error(`the unchanged rebuild added layers:\n${added.join("\n")}`);
      s.unchanged.push(u);
      s.hashAll.push((await readAndHash(allList, join(workDir, `hash-all-${run}.txt`))).seconds);
      const c = await builds.rebuild(`c${run}`, change);
      if (!c.stdout.includes(`Adding layer '${changedId}'`)) throw new Error(`the changed layer was not added:\n${layerLines(c.stdout).join("\n")}`);
      s.changed.push(c);
      s.hashLayers.push((await readAndHash(layerList, join(workDir, `hash-layers-${run}.txt`))).seconds);
      s.noRecord.push(await builds.rebuild(`n${run}`, dropRecord));
      console.log(
        `run ${run}: tiny ${secs(s.tiny.at(-1)?.exporter.seconds ?? 0)}, rebuild exporter ${secs(u.exporter.seconds)} (whole ${secs(total(u))}), ` +
          `read+hash ${secs(s.hashAll.at(-1) ?? 0)}, one layer changed ${secs(c.exporter.seconds)} (whole ${secs(total(c))}), layers-only read+hash ${secs(s.hashLayers.at(-1) ?? 0)}, without the record ${secs(s.noRecord.at(-1)?.exporter.seconds ?? 0)}`,
      );
    }
    const tracedU = await builds.traced("trace-u");
    const tracedC = await builds.traced("trace-c", change);
    report({ first, ...s, tracedU, tracedC, allBytes: out.bytes, layerBytes, layerMiB, changedPlace: changedDir.slice(out.layersDir.length + 1) });
    console.log(`\n(U) exporter, buildpack layers:\n  ${layerLines(tracedU.stdout).join("\n  ")}`);
    console.log(`(C) exporter, buildpack layers:\n  ${layerLines(tracedC.stdout).join("\n  ")}`);
  } finally {
    await registry?.stop().catch(() => undefined);
    await temp?.remove().catch(() => undefined);
  }
}

interface Results {
  readonly first: BuildTimes;
  readonly unchanged: readonly BuildTimes[];
  readonly noRecord: readonly BuildTimes[];
  readonly changed: readonly BuildTimes[];
  readonly tiny: readonly BuildTimes[];
  readonly hashAll: readonly number[];
  readonly hashLayers: readonly number[];
  readonly tracedU: { reads: Map<string, number> };
  readonly tracedC: { reads: Map<string, number> };
  readonly allBytes: number;
  readonly layerBytes: number;
  readonly layerMiB: number;
  /** The changed layer's place (`<bp dir>/<layer>`). */
  readonly changedPlace: string;
}

function spread(values: readonly number[]): string {
  return `${secs(median(values))}  (${secs(Math.min(...values))}–${secs(Math.max(...values))})`;
}

function report(r: Results): void {
  const phases = (xs: readonly BuildTimes[]): string =>
    `analyzer ${secs(median(xs.map((x) => x.analyzer.seconds)))}, restorer ${secs(median(xs.map((x) => x.restorer.seconds)))}, exporter ${secs(median(xs.map((x) => x.exporter.seconds)))}`;
  const exporter = (xs: readonly BuildTimes[]) => xs.map((x) => x.exporter.seconds);
  const whole = (xs: readonly BuildTimes[]) => xs.map(total);
  const cpu = (xs: readonly BuildTimes[]) => `exporter CPU ${secs(median(xs.map((x) => x.exporter.toolCpu)))}, others on the machine ${secs(median(xs.map((x) => x.exporter.otherCpu + x.exporter.steal)))}`;
  const rows: [string, string][] = [
    ["first build, whole", `${secs(total(r.first))}  (${phases([r.first])})`],
    ["(U) rebuild unchanged, exporter", spread(exporter(r.unchanged))],
    ["    whole rebuild", `${spread(whole(r.unchanged))}  (${phases(r.unchanged)})`],
    ["    ", cpu(r.unchanged)],
    ["(N) the same without the record, exporter", spread(exporter(r.noRecord))],
    ["    ", cpu(r.noRecord)],
    ["(C) one layer changed, exporter", spread(exporter(r.changed))],
    ["    whole rebuild", `${spread(whole(r.changed))}  (${phases(r.changed)})`],
    ["(T) tiny layers, exporter (fixed cost)", spread(exporter(r.tiny))],
    ["    ", cpu(r.tiny)],
    ["(U) and (T): the exporter's own app-image timer", `${secs(median(r.unchanged.map((x) => x.appImage ?? Number.NaN)))} and ${secs(median(r.tiny.map((x) => x.appImage ?? Number.NaN)))}`],
    [`(H) read+sha256, all ${mb(r.allBytes)}`, spread(r.hashAll)],
    [`    buildpack layers only, ${mb(r.layerBytes)}`, spread(r.hashLayers)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  console.log("");
  for (const [k, v] of rows) console.log(`${k.padEnd(width)}  │  ${v}`);

  const u = median(exporter(r.unchanged));
  const t = median(exporter(r.tiny));
  const h = median(r.hashAll);
  const hl = median(r.hashLayers);
  const ratio = (u - t) / h;
  const paired = r.unchanged.map((x, i) => (x.exporter.seconds - (r.tiny[i]?.exporter.seconds ?? 0)) / (r.hashAll[i] ?? 1));
  const pairedMedian = median(paired);
  const readsLine = (label: string, reads: Map<string, number>): void => {
    const parts = [...reads].map(([place, bytes]) => `${place} ${mb(bytes)}`);
    console.log(`  ${label}: ${parts.join(", ")}`);
  };
  console.log(`\nbytes the exporter read (strace, successful read calls, by place):`);
  readsLine("(U)", r.tracedU.reads);
  readsLine("(C)", r.tracedC.reads);
  const layerReads = (reads: Map<string, number>) => [...reads].filter(([place]) => place.startsWith("bench_"));
  const changedOnly = layerReads(r.tracedC.reads).every(([place, bytes]) => (place === r.changedPlace ? bytes > 0 : bytes === 0));
  const unchangedNone = layerReads(r.tracedU.reads).every(([, bytes]) => bytes === 0);

  const verdict = (ok: boolean): string => (ok ? "MET" : "NOT MET");
  const line = (text: string, target: string, ok: boolean | undefined): void => console.log(`  ${text.padEnd(72)}${target.padEnd(14)}${ok === undefined ? "" : verdict(ok)}`);
  console.log(`\n  ${"figure (medians)".padEnd(72)}${"target".padEnd(14)}`);
  line(`(U) exporter − (T) fixed cost, / (H) all bytes, per run   ${fixed(pairedMedian)}  (${paired.map((x) => fixed(x)).join(", ")})`, "≤ 0.20", pairedMedian <= 0.2);
  line(`    the same as a ratio of medians   ${fixed(ratio)}  ((${secs(u)} − ${secs(t)}) / ${secs(h)})`, "", undefined);
  const cpuU = median(r.unchanged.map((x) => x.exporter.toolCpu));
  const cpuT = median(r.tiny.map((x) => x.exporter.toolCpu));
  line(`    in exporter CPU seconds, / (H)   ${fixed((cpuU - cpuT) / h)}  ((${secs(cpuU)} − ${secs(cpuT)}) / ${secs(h)})`, "", undefined);
  line(`    the same against (H) buildpack layers only   ${fixed((u - t) / hl)}  (/ ${secs(hl)})`, "", undefined);
  line(`(U) exporter / (H) all bytes                     ${fixed(u / h)}`, "", undefined);
  line(`(U) whole rebuild / first build                  ${fixed(median(whole(r.unchanged)) / total(r.first))}  (${secs(median(whole(r.unchanged)))} vs ${secs(total(r.first))})`, "", undefined);
  line(`(C) whole rebuild / first build                  ${fixed(median(whole(r.changed)) / total(r.first))}  (${secs(median(whole(r.changed)))} vs ${secs(total(r.first))})`, "", undefined);
  line(`(U) bytes read from buildpack layers             ${mb(layerReads(r.tracedU.reads).reduce((n, [, b]) => n + b, 0))}`, "0", unchangedNone);
  line(`(C) bytes read from buildpack layers: only ${r.changedPlace}  ${mb(r.tracedC.reads.get(r.changedPlace) ?? 0)} (${r.layerMiB} MiB = ${mb(r.layerMiB * MiB)})`, "that layer", changedOnly);
  console.log(`\n(H) is a plain Node script in a child process (read each file, sha256 it), timed around its loop only.`);
  console.log(`"other" reads: the exporter's own bundle, /proc, sockets and pipes (registry responses, worker threads).`);
}

await main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
