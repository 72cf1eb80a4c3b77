// `npm run bench -- exporter [--runs 3] [--layers 4] [--layer-mib 128] [--app-mib 64] [--lifecycle <dir>]`
//
// The BUILT exporter (dist/lifecycle/exporter; `npm run build` first, or `--lifecycle <dir>` for
// another build) on a generated workspace (launch layers and an app dir of text-like data, files of
// a few MB), pushing to a plain harness registry behind a counting fault proxy (worker thread):
//   (a) fresh export: analyze a new repository, then export; wall time, MB/s over the files' bytes
//   (b) the gzip limit: the same bytes (read into memory first) gzipped at level 1 by node:zlib,
//       one stream per core, all at once; also (b') with two streams per core, because one Node
//       zlib stream keeps a core only ~75% busy (it waits for its next write between chunks)
//   (c) `skopeo copy` of an OCI layout of the same uncompressed layer tars to a fresh repository;
//       skopeo compresses them (gzip level 1) as it pushes
//   (d) re-export with nothing changed (analyze, export again) vs one plain loop that reads and
//       sha256s every file; blob uploads (POST/PATCH to /blobs/uploads/) in the re-export must be 0
//   (e) peak RSS of the exporter during the fresh export (/usr/bin/time -v)
// Every run repeats all of them, interleaved; medians and min–max are reported, with where the
// machine's CPU time went (a shared machine: "others" is CPU used by processes not ours).
// All data is in the page cache. MB = 10^6 bytes.
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { isMainThread } from "node:worker_threads";
import { skopeoInspectConfig } from "../test/harness/check/skopeo.js";
import { buildRunImage } from "../test/harness/fixtures/run-image.js";
import { pushImage } from "../test/harness/fixtures/push-image.js";
import { runTool } from "../test/harness/process/run-tool.js";
import { makeTempDir, type TempDir } from "../test/harness/process/temp-dir.js";
import type { RegistryEndpoint } from "../test/harness/registry/registry-kind.js";
import { startRegistry, type RegistryHandle } from "../test/harness/registry/start-registry.js";
import { gzipLimit, readAndHash, writeFileList, writeUncompressedLayout, type BaselineResult } from "./_exporter-baselines.js";
import { writeBuildOutput, type BuildOutput } from "./_exporter-data.js";
import { measure, timedRun, type Sample } from "./_exporter-measure.js";
import { ProxyHandle, proxyWorker, type ProxyStats } from "./_exporter-proxy.js";
import { option, median } from "./_args.js";
import { checkBuild, lifecycleDir } from "./_lifecycle-dir.js";

const MiB = 1024 * 1024;
const MB = 1e6;
const TAG = "latest";

// ---- small helpers -----------------------------------------------------------------------



const fixed = (n: number, digits = 2): string => n.toFixed(digits);
const secs = (n: number): string => `${fixed(n)} s`;
const mb = (n: number): string => `${fixed(n / MB, 0)} MB`;

/** "median  (min–max, ±half-range%)" of a series. */
function spread(values: readonly number[], format: (n: number) => string): string {
  const m = median(values);
  const pct = m > 0 ? ((Math.max(...values) - Math.min(...values)) / 2 / m) * 100 : 0;
  return `${format(m)}  (${format(Math.min(...values))}–${format(Math.max(...values))}, ±${pct.toFixed(0)}%)`;
}

/** The environment the lifecycle phases get (like the acceptance helper's: nothing inherited). */
function phaseEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", CNB_PLATFORM_API: "0.14" };
}

// ---- the measurements ----------------------------------------------------------------------

interface Measured extends Sample {
  readonly stats?: ProxyStats;
}

class Bench {
  constructor(
    private readonly workDir: string,
    private readonly out: BuildOutput,
    private readonly proxy: ProxyHandle,
    private readonly registry: RegistryHandle,
    private readonly lifecycle: string,
  ) {}

  private phaseArgs(): string[] {
    return ["-no-color", "-layers", this.out.layersDir, "-run", this.out.runToml];
  }

  async analyze(image: string): Promise<void> {
    await runTool(join(this.lifecycle, "analyzer"), [...this.phaseArgs(), image], { env: phaseEnv(), timeoutMs: 120_000 });
  }

  /** Measures `step` with the proxy's counts. */
  private async counted(step: Parameters<typeof measure>[1]): Promise<Measured> {
    await this.proxy.reset();
    const sample = await measure(this.registry.pgid, step);
    return { ...sample, stats: await this.proxy.stats() };
  }

  /** One export under /usr/bin/time; returns the measurement and the exporter's output. */
  async export(image: string, name: string): Promise<{ sample: Measured; stdout: string }> {
    let stdout = "";
    const args = [...this.phaseArgs(), "-app", this.out.appDir, "-launcher", this.out.launcher, image];
    const sample = await this.counted(async () => {
      const run = await timedRun(join(this.lifecycle, "exporter"), args, phaseEnv(), join(this.workDir, `time-${name}.txt`));
      stdout = run.stdout;
      return run;
    });
    return { sample, stdout };
  }

  /** skopeo copy of the layout to a fresh repository, compressing at gzip level 1 as it pushes. */
  skopeo(layout: string, repository: string, name: string): Promise<Measured> {
    // its own blob-info cache, or skopeo would mount blobs it pushed in earlier runs
    const env = { ...process.env, _CONTAINERS_ROOTLESS_UID: "1000", XDG_DATA_HOME: join(this.workDir, `skopeo-cache-${name}`) };
    const args = ["--insecure-policy", "copy", "-q", "--dest-tls-verify=false", "--dest-compress-format", "gzip", "--dest-compress-level", "1"];
    return this.counted(() => timedRun("skopeo", [...args, `oci:${layout}:${TAG}`, `docker://${this.proxy.host}/${repository}:${TAG}`], env, join(this.workDir, `time-${name}.txt`)));
  }

  /** A baseline script in a child process; the wall time is that of its loop. */
  async baseline(step: (timeFile: string) => Promise<BaselineResult>, name: string): Promise<{ sample: Sample; result: BaselineResult }> {
    let result: BaselineResult | undefined;
    const sample = await measure(this.registry.pgid, async () => {
      result = await step(join(this.workDir, `time-${name}.txt`));
      return result;
    });
    if (!result) throw new Error(`baseline ${name} gave no result`);
    return { sample: { ...sample, seconds: result.seconds }, result };
  }
}

interface Series {
  readonly fresh: Measured[];
  readonly reexport: Measured[];
  readonly skopeo: Measured[];
  readonly gzip: Sample[];
  readonly gzip2: Sample[];
  readonly readHash: Sample[];
}

async function main(args: readonly string[]): Promise<void> {
  const runs = option(args, "runs", 3);
  const layerCount = option(args, "layers", 4);
  const layerMiB = option(args, "layer-mib", 128);
  const appMiB = option(args, "app-mib", 64);
  const lifecycle = lifecycleDir(args);
  checkBuild(lifecycle);

  let temp: TempDir | undefined;
  let registry: RegistryHandle | undefined;
  let proxy: ProxyHandle | undefined;
  try {
    temp = await makeTempDir("bench-exporter");
    const workDir = temp.path;
    registry = await startRegistry("plain");
    proxy = await ProxyHandle.start(new URL(import.meta.url), registry.url);
    const host = proxy.host;
    const endpoint: RegistryEndpoint = { host, scheme: "http" };

    let started = performance.now();
    const out = await writeBuildOutput(join(workDir, "ws"), { layers: layerCount, layerBytes: layerMiB * MiB, appBytes: appMiB * MiB, seed: 42, runImage: `${host}/bench/run:${TAG}` });
    console.log(
      `workspace: ${layerCount} launch layers × ${layerMiB} MiB + ${appMiB} MiB app + launcher, ${out.files.length} files, ` +
        `${fixed(out.bytes / MB, 1)} MB (generated in ${fixed((performance.now() - started) / 1000, 1)} s)`,
    );
    const runImage = await buildRunImage(join(workDir, "run-layout"));
    await pushImage(runImage, registry, `bench/run:${TAG}`);
    started = performance.now();
    const layout = join(workDir, "uncompressed-layout");
    const layoutDiffIds = await writeUncompressedLayout(layout, out, TAG);
    console.log(`skopeo source: OCI layout of the ${layoutDiffIds.length} exporter layers as uncompressed tars (written in ${fixed((performance.now() - started) / 1000, 1)} s)`);
    console.log(`lifecycle ${lifecycle}; registry ${registry.url} behind counting proxy http://${host}; ${availableParallelism()} cores; ${runs} run(s)\n`);

    const bench = new Bench(workDir, out, proxy, registry, lifecycle);
    const s: Series = { fresh: [], reexport: [], skopeo: [], gzip: [], gzip2: [], readHash: [] };
    const cores = availableParallelism();
    const fileList = await writeFileList(join(workDir, "files.txt"), out.files);
    let compressed = 0;
    for (let run = 1; run <= runs; run++) {
      const image = `${host}/bench/app-${run}:${TAG}`;
      await bench.analyze(image);
      const fresh = await bench.export(image, `fresh-${run}`);
      s.fresh.push(fresh.sample);
      if (run === 1) {
        const config = await skopeoInspectConfig(endpoint, `bench/app-${run}:${TAG}`);
        const exported = config.rootfs.diff_ids.slice(-layoutDiffIds.length);
        if (exported.join() !== layoutDiffIds.join()) {
          throw new Error(`the layout's layers are not the exporter's:\n  layout   ${layoutDiffIds.join(" ")}\n  exported ${exported.join(" ")}`);
        }
      }

      await bench.analyze(image);
      const again = await bench.export(image, `reexport-${run}`);
      s.reexport.push(again.sample);
      const added = again.stdout.split("\n").filter((l) => /Adding layer|Added \d+\/\d+ app layer/.test(l));
      if (added.length > 0) throw new Error(`re-export rebuilt layers:\n${added.join("\n")}`);

      s.skopeo.push(await bench.skopeo(layout, `bench/skopeo-${run}`, `skopeo-${run}`));
      const limit = await bench.baseline((timeFile) => gzipLimit(fileList, cores, timeFile), `gzip-${run}`);
      s.gzip.push(limit.sample);
      compressed = limit.result.compressedBytes ?? 0;
      s.gzip2.push((await bench.baseline((timeFile) => gzipLimit(fileList, 2 * cores, timeFile), `gzip2-${run}`)).sample);
      s.readHash.push((await bench.baseline((timeFile) => readAndHash(fileList, timeFile), `read-hash-${run}`)).sample);

      const last = (xs: readonly Sample[]): string => {
        const x = xs.at(-1);
        return x ? `${secs(x.seconds)} [cpu ${fixed(x.toolCpu + x.benchCpu)}${x.otherCpu + x.steal > 0.1 ? `, others ${fixed(x.otherCpu + x.steal)}` : ""}]` : "-";
      };
      console.log(
        `run ${run}: fresh export ${last(s.fresh)}, gzip limit ${last(s.gzip)} / ${last(s.gzip2)}, skopeo ${last(s.skopeo)}, ` +
          `re-export ${last(s.reexport)} (${again.sample.stats?.blobUploads ?? "?"} blob uploads), read+hash ${last(s.readHash)}`,
      );
    }
    report(s, out.bytes, compressed, cores);
  } finally {
    await proxy?.stop().catch(() => undefined);
    await registry?.stop().catch(() => undefined);
    await temp?.remove().catch(() => undefined);
  }
}

function report(s: Series, bytes: number, gzipBytes: number, cores: number): void {
  const rate = (seconds: number): string => `${fixed(bytes / MB / seconds, 0)} MB/s`;
  const wall = (xs: readonly Sample[]): number[] => xs.map((x) => x.seconds);
  const cpu = (xs: readonly Sample[]): string =>
    [
      `tool ${fixed(median(xs.map((x) => x.toolCpu)))}`,
      `registry ${fixed(median(xs.map((x) => x.registryCpu)))}`,
      `bench ${fixed(median(xs.map((x) => x.benchCpu)))}`,
      `others ${fixed(median(xs.map((x) => x.otherCpu)))}`,
      `steal ${fixed(median(xs.map((x) => x.steal)))}`,
    ].join(", ");
  const uploads = s.reexport.map((x) => x.stats?.blobUploads ?? -1);
  const rows: [string, string][] = [
    ["(a) fresh export, wall", spread(wall(s.fresh), secs)],
    ["    throughput", spread(wall(s.fresh).map((t) => bytes / t), (n) => `${fixed(n / MB, 0)} MB/s`)],
    ["    CPU s (medians)", cpu(s.fresh)],
    ["    uploaded via the proxy", spread(s.fresh.map((x) => x.stats?.uploadedBytes ?? 0), mb)],
    [`(b) gzip -1 limit, ${cores} streams, wall`, spread(wall(s.gzip), secs)],
    ["    throughput", spread(wall(s.gzip).map((t) => bytes / t), (n) => `${fixed(n / MB, 0)} MB/s`)],
    ["    CPU s (medians)", `${cpu(s.gzip)}; ${mb(gzipBytes)} out (${fixed(bytes / gzipBytes)}x)`],
    [`(b') gzip -1 limit, ${2 * cores} streams, wall`, spread(wall(s.gzip2), secs)],
    ["    throughput", spread(wall(s.gzip2).map((t) => bytes / t), (n) => `${fixed(n / MB, 0)} MB/s`)],
    ["    CPU s (medians)", cpu(s.gzip2)],
    ["(c) skopeo copy, gzip -1 on push, wall", spread(wall(s.skopeo), secs)],
    ["    throughput", spread(wall(s.skopeo).map((t) => bytes / t), (n) => `${fixed(n / MB, 0)} MB/s`)],
    ["    CPU s (medians)", cpu(s.skopeo)],
    ["    uploaded via the proxy", spread(s.skopeo.map((x) => x.stats?.uploadedBytes ?? 0), mb)],
    ["(d) re-export, wall", spread(wall(s.reexport), secs)],
    ["    CPU s (medians)", cpu(s.reexport)],
    ["    blob uploads (POST/PATCH)", uploads.join(", ")],
    ["(d) read + sha256 of every file, wall", spread(wall(s.readHash), secs)],
    ["    CPU s (medians)", cpu(s.readHash)],
    ["(e) exporter peak RSS, fresh export", spread(s.fresh.map((x) => x.maxRss), mb)],
    ["    exporter peak RSS, re-export", spread(s.reexport.map((x) => x.maxRss), mb)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  console.log("");
  for (const [k, v] of rows) console.log(`${k.padEnd(width)}  │  ${v}`);

  const a = median(wall(s.fresh));
  const b = median(wall(s.gzip));
  const b2 = median(wall(s.gzip2));
  const c = median(wall(s.skopeo));
  const d = median(wall(s.reexport));
  const h = median(wall(s.readHash));
  const rss = median(s.fresh.map((x) => x.maxRss));
  const verdict = (ok: boolean): string => (ok ? "MET" : "NOT MET");
  const line = (text: string, target: string, ok: boolean): void => console.log(`  ${text.padEnd(62)}${target.padEnd(10)}${verdict(ok)}`);
  console.log(`\n  ${"ratio of medians".padEnd(62)}${"target".padEnd(10)}`);
  line(`(a)/(b) throughput         ${fixed(b / a)}  (${rate(a)} vs ${rate(b)})`, "≥ 0.80", b / a >= 0.8);
  line(`(a)/(b') throughput        ${fixed(b2 / a)}  (${rate(a)} vs ${rate(b2)})`, "(≥ 0.80)", b2 / a >= 0.8);
  line(`(a) vs (c) wall time       ${fixed(a / c)}  (${secs(a)} vs ${secs(c)})`, "< 1.00", a < c);
  line(`(d) re-export / read+hash  ${fixed(d / h)}  (${secs(d)} vs ${secs(h)})`, "≤ 1.30", d / h <= 1.3);
  line(`(d) blob uploads in re-exports  ${uploads.join(", ")}`, "0", uploads.every((u) => u === 0));
  line(`(e) exporter peak RSS      ${mb(rss)}`, "≤ 300 MB", rss <= 300 * MB);
  console.log(`\nthroughput = ${fixed(bytes / MB, 1)} MB of file data / wall time. (b) and (d)'s read+hash are plain Node scripts in a child`);
  console.log("process, timed around their loop only. CPU seconds: tool = exporter, skopeo or the baseline's whole process; bench = this");
  console.log("process (the proxy worker); others = the rest of the machine; steal = taken by the hypervisor.");
}

if (isMainThread) {
  await main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
} else {
  await proxyWorker();
}
