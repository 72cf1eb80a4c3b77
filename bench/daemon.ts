// `npm run bench -- daemon [--runs 3] [--reexports 3] [--layers 4] [--layer-mib 128] [--app-mib 64] [--driver overlay|vfs] [--lifecycle <dir>]`
//
// The BUILT exporter and rebaser (dist/lifecycle; `npm run build` first) in daemon mode against
// podman's Docker-compatible service (overlay storage unless --driver vfs), on the exporter
// benchmark's generated workspace (4 × 128 MiB launch layers + 64 MiB app + launcher = 576 MiB),
// every phase talking to the daemon through the counting engine proxy (DOCKER_HOST=tcp://…), which
// gives the layer bytes of each `POST /images/load` and the image saves (`GET /images/…/get`).
// Measured in one run:
//   (a) fresh daemon export (a new launch cache; the daemon holds only the run image) vs `skopeo
//       copy` of the same uncompressed layer tars from an OCI layout to `docker-daemon:` through the
//       same proxy and service; --runs pairs (skopeo first, its image then removed, and the previous
//       pair's app image, so neither finds the other's layers stored), medians compared
//   (b) unchanged re-export (analyze, export again): layer bytes sent, and wall time vs one plain
//       loop that reads and sha256s every file; both repeated (--reexports, interleaved) and the
//       medians compared, since a second or so of work is easily disturbed on a shared machine
//   (c) rebase onto a patched run image in the daemon: layer bytes sent
//   (d) image saves requested by (a), (b) and (c)
// Targets: (a) faster than skopeo; (b) 0 layer bytes and ≤ 1.5 × read-and-hash; (c) 0 layer bytes;
// (d) 0 in all three. All data is in the page cache. MB = 10^6 bytes.
import { mkdir } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { startEngineProxy, type EngineProxy } from "../test/harness/daemon/engine-proxy.js";
import { copyIntoDaemon } from "../test/harness/daemon/load-image.js";
import { startPodmanService, type PodmanService } from "../test/harness/daemon/podman-service.js";
import { buildRunImage } from "../test/harness/fixtures/run-image.js";
import { busyboxLayer, userLayer } from "../test/harness/fixtures/layer-files.js";
import { runTool } from "../test/harness/process/run-tool.js";
import { makeTempDir, type TempDir } from "../test/harness/process/temp-dir.js";
import { skopeoToDaemon, trafficOf, type Traffic } from "./_daemon-measure.js";
import { readAndHash, writeFileList, writeUncompressedLayout } from "./_exporter-baselines.js";
import { writeBuildOutput, type BuildOutput } from "./_exporter-data.js";
import { measure, timedRun, type Sample } from "./_exporter-measure.js";
import { median, option } from "./_args.js";
import { checkBuild, lifecycleDir } from "./_lifecycle-dir.js";

const MiB = 1024 * 1024;
const MB = 1e6;
const RUN = "registry.invalid/bench/run:latest";
const fixed = (n: number, digits = 2): string => n.toFixed(digits);
const secs = (n: number): string => `${fixed(n)} s`;
const mb = (n: number): string => `${fixed(n / MB, 1)} MB`;

interface Step {
  readonly sample: Sample;
  readonly traffic: Traffic;
  readonly stdout: string;
}

function driverOption(args: readonly string[]): "overlay" | "vfs" {
  const i = args.indexOf("--driver");
  const value = i >= 0 ? args[i + 1] : "overlay";
  if (value !== "overlay" && value !== "vfs") throw new Error("--driver must be overlay or vfs");
  return value;
}

class Bench {
  constructor(
    private readonly work: string,
    private readonly out: BuildOutput,
    private readonly service: PodmanService,
    private readonly proxy: EngineProxy,
    private readonly lifecycle: string,
  ) {}

  private env(): NodeJS.ProcessEnv {
    return { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", CNB_PLATFORM_API: "0.14", DOCKER_HOST: this.proxy.dockerHost };
  }

  /** Runs a phase under /usr/bin/time with the proxy's counters reset first. */
  private async timed(name: string, bin: string, args: readonly string[]): Promise<Step> {
    this.proxy.reset();
    let stdout = "";
    const sample = await measure(this.service.pgid, async () => {
      const run = await timedRun(join(this.lifecycle, bin), ["-no-color", ...args], this.env(), join(this.work, `time-${name}.txt`));
      stdout = run.stdout;
      return run;
    });
    return { sample, traffic: trafficOf(this.proxy), stdout };
  }

  async analyze(app: string, launchCache: string): Promise<void> {
    await runTool(join(this.lifecycle, "analyzer"), ["-no-color", "-daemon", "-layers", this.out.layersDir, "-run", this.out.runToml, "-launch-cache", launchCache, app], {
      env: this.env(),
      timeoutMs: 300_000,
    });
  }

  export(name: string, app: string, launchCache: string): Promise<Step> {
    const args = ["-daemon", "-launch-cache", launchCache, "-layers", this.out.layersDir, "-app", this.out.appDir, "-launcher", this.out.launcher, "-run", this.out.runToml, app];
    return this.timed(name, "exporter", args);
  }

  rebase(app: string): Promise<Step> {
    return this.timed("rebase", "rebaser", ["-daemon", "-report", join(this.work, "rebase-report.toml"), app]);
  }

  async skopeo(layout: string, name: string): Promise<Step> {
    this.proxy.reset();
    const sample = await measure(this.service.pgid, () => skopeoToDaemon(this.service, this.proxy, `oci:${layout}:latest`, name, join(this.work, "time-skopeo.txt")));
    return { sample, traffic: trafficOf(this.proxy), stdout: "" };
  }

  /** The image's layers, base first (podman CLI on the same storage). */
  async diffIds(name: string): Promise<string[]> {
    const { stdout } = await this.service.podman(["image", "inspect", "--format", "{{json .RootFS.Layers}}", name]);
    return JSON.parse(stdout) as string[];
  }
}

async function main(args: readonly string[]): Promise<void> {
  const layerCount = option(args, "layers", 4, true);
  const layerMiB = option(args, "layer-mib", 128);
  const appMiB = option(args, "app-mib", 64);
  const runs = option(args, "runs", 3, true);
  const reexports = option(args, "reexports", 3, true);
  const driver = driverOption(args);
  const lifecycle = lifecycleDir(args);
  checkBuild(lifecycle);

  let temp: TempDir | undefined;
  let service: PodmanService | undefined;
  let proxy: EngineProxy | undefined;
  try {
    temp = await makeTempDir("bench-daemon");
    const work = temp.path;
    service = await startPodmanService({ driver });
    proxy = await startEngineProxy(service.socketPath ?? "");
    let started = performance.now();
    const out = await writeBuildOutput(join(work, "ws"), { layers: layerCount, layerBytes: layerMiB * MiB, appBytes: appMiB * MiB, seed: 42, runImage: RUN });
    console.log(`workspace: ${layerCount} launch layers × ${layerMiB} MiB + ${appMiB} MiB app + launcher, ${out.files.length} files, ${fixed(out.bytes / MB, 1)} MB (generated in ${fixed((performance.now() - started) / 1000, 1)} s)`);
    const runLayers = [busyboxLayer(["sh", "cat"]), userLayer()];
    const run1 = await buildRunImage(join(work, "run1"), { layers: runLayers });
    const run2 = await buildRunImage(join(work, "run2"), { layers: [...runLayers, { createdBy: "bench: patch", files: [{ path: "etc/patch", content: "2\n" }] }] });
    await copyIntoDaemon(service, run1.ociReference, RUN);
    started = performance.now();
    const layout = join(work, "uncompressed-layout");
    const layoutDiffIds = await writeUncompressedLayout(layout, out, "latest");
    console.log(`skopeo source: OCI layout of the ${layoutDiffIds.length} exporter layers as uncompressed tars (written in ${fixed((performance.now() - started) / 1000, 1)} s)`);
    console.log(`lifecycle ${lifecycle}; podman ${service.dockerHost} (${driver} storage) behind the engine proxy ${proxy.dockerHost}; ${availableParallelism()} cores\n`);

    const bench = new Bench(work, out, service, proxy, lifecycle);
    const fileList = await writeFileList(join(work, "files.txt"), out.files);

    // (a) pairs of skopeo, then a fresh export, each into a daemon that holds none of these layers
    // (skopeo's image and all but the last app image are removed after use)
    const fresh: Step[] = [];
    const skopeo: Step[] = [];
    const app = "registry.invalid/bench/app:latest";
    let launchCache = "";
    for (let i = 0; i < runs; i++) {
      skopeo.push(await bench.skopeo(layout, `registry.invalid/bench/skopeo-${i}:latest`));
      await service.podman(["rmi", `registry.invalid/bench/skopeo-${i}:latest`]);
      if (i > 0) await service.podman(["rmi", app]);
      launchCache = join(work, `launch-cache-${i}`);
      await mkdir(launchCache);
      await bench.analyze(app, launchCache);
      fresh.push(await bench.export(`fresh-${i}`, app, launchCache));
      console.log(`run ${i + 1}: skopeo copy ${secs(skopeo.at(-1)?.sample.seconds ?? 0)}, fresh daemon export ${secs(fresh.at(-1)?.sample.seconds ?? 0)}`);
    }
    const exported = (await bench.diffIds(app)).slice(-layoutDiffIds.length);
    if (exported.join() !== layoutDiffIds.join()) throw new Error(`the layout's layers are not the exporter's:\n  layout   ${layoutDiffIds.join(" ")}\n  exported ${exported.join(" ")}`);

    // (b) nothing changed, repeated with the baseline in between
    const again: Step[] = [];
    const readHash: { seconds: number; toolCpu: number }[] = [];
    for (let i = 0; i < reexports; i++) {
      await bench.analyze(app, launchCache);
      const step = await bench.export(`reexport-${i}`, app, launchCache);
      const rebuilt = step.stdout.split("\n").filter((l) => /Adding layer|Added \d+\/\d+ app layer/.test(l));
      if (rebuilt.length > 0) throw new Error(`re-export rebuilt layers:\n${rebuilt.join("\n")}`);
      again.push(step);
      readHash.push(await readAndHash(fileList, join(work, `time-read-hash-${i}.txt`)));
      console.log(`re-export ${i + 1}: ${secs(step.sample.seconds)}, read + sha256 ${secs(readHash.at(-1)?.seconds ?? 0)}`);
    }

    // (c) a patched run image under the same name, then rebase
    await copyIntoDaemon(service, run2.ociReference, RUN);
    const rebase = await bench.rebase(app);
    const rebased = await bench.diffIds(app);
    const newRun = await bench.diffIds(RUN);
    if (rebased.slice(0, newRun.length).join() !== newRun.join()) throw new Error("the rebased image does not start with the new run image's layers");

    report({ fresh, skopeo, again, readHash, rebase, bytes: out.bytes, layoutBytes: skopeo[0]?.traffic.layerBytes ?? 0 });
  } finally {
    await proxy?.stop().catch(() => undefined);
    await service?.stop().catch(() => undefined);
    await temp?.remove().catch(() => undefined);
  }
}

interface Results {
  readonly fresh: readonly Step[];
  readonly skopeo: readonly Step[];
  readonly again: readonly Step[];
  readonly readHash: readonly { seconds: number; toolCpu: number }[];
  readonly rebase: Step;
  readonly bytes: number;
  readonly layoutBytes: number;
}

/** "median (min–max)" of a series. */
function spread(values: readonly number[], format: (n: number) => string): string {
  return values.length === 1 ? format(values[0] ?? 0) : `${format(median(values))}  (${format(Math.min(...values))}–${format(Math.max(...values))}, ${values.length} runs)`;
}

const zero: Sample = { seconds: 0, toolCpu: 0, maxRss: 0, registryCpu: 0, benchCpu: 0, otherCpu: 0, steal: 0 };

function report(r: Results): void {
  const cpu = (s: Sample): string => `tool ${fixed(s.toolCpu)}, daemon ${fixed(s.registryCpu)}, proxy ${fixed(s.benchCpu)}, others ${fixed(s.otherCpu)}, steal ${fixed(s.steal)}`;
  const sent = (t: Traffic): string => `${t.loads} load(s), ${mb(t.layerBytes)} of layers (${t.layerBytes} B) + ${t.placeholders} placeholder(s), body ${mb(t.bodyBytes)}; ${t.saves} image save(s)`;
  const again = r.again.map((s) => s.sample.seconds);
  const hash = r.readHash.map((h) => h.seconds);
  const fresh = r.fresh.map((s) => s.sample.seconds);
  const skopeo = r.skopeo.map((s) => s.sample.seconds);
  const lastOf = <T>(xs: readonly T[]): T | undefined => xs.at(-1);
  const perRun = (label: string, steps: readonly Step[]): [string, string][] => steps.map((s, i) => [`    ${label} (run ${i + 1})`, sent(s.traffic)]);
  const rows: [string, string][] = [
    ["(a) fresh daemon export, wall", `${spread(fresh, secs)}  (${fixed(r.bytes / MB / median(fresh), 0)} MB/s of file data)`],
    ["    CPU s (last run)", cpu(lastOf(r.fresh)?.sample ?? zero)],
    ...perRun("sent", r.fresh),
    ["    exporter peak RSS", spread(r.fresh.map((s) => s.sample.maxRss), mb)],
    ["(a) skopeo copy oci: → docker-daemon:, wall", spread(skopeo, secs)],
    ["    CPU s (last run)", cpu(lastOf(r.skopeo)?.sample ?? zero)],
    ...perRun("sent", r.skopeo),
    ["(b) unchanged re-export, wall", spread(again, secs)],
    ["    CPU s (last run)", cpu(lastOf(r.again)?.sample ?? zero)],
    ...perRun("sent", r.again),
    ["(b) read + sha256 of every file, wall", `${spread(hash, secs)}  (cpu ${fixed(median(r.readHash.map((h) => h.toolCpu)))})`],
    ["(c) rebase onto a patched run image, wall", secs(r.rebase.sample.seconds)],
    ["    CPU s", cpu(r.rebase.sample)],
    ["    sent", sent(r.rebase.traffic)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  console.log("");
  for (const [k, v] of rows) console.log(`${k.padEnd(width)}  │  ${v}`);
  const verdict = (ok: boolean): string => (ok ? "MET" : "NOT MET");
  const line = (text: string, target: string, ok: boolean): void => console.log(`  ${text.padEnd(66)}${target.padEnd(12)}${verdict(ok)}`);
  const a = median(fresh);
  const c = median(skopeo);
  const b = median(again);
  const h = median(hash);
  const reexportBytes = r.again.map((s) => s.traffic.layerBytes);
  const saves = [...r.fresh.map((s) => s.traffic.saves), ...r.again.map((s) => s.traffic.saves), r.rebase.traffic.saves];
  console.log(`\n  ${"".padEnd(66)}${"target".padEnd(12)}`);
  line(`(a) fresh export / skopeo copy   ${fixed(a / c)}  (medians ${secs(a)} vs ${secs(c)})`, "< 1.00", a < c);
  line(`(b) re-export layer bytes sent   ${reexportBytes.join(", ")}`, "0", reexportBytes.every((n) => n === 0));
  line(`(b) re-export / read+hash        ${fixed(b / h)}  (medians ${secs(b)} vs ${secs(h)})`, "≤ 1.50", b / h <= 1.5);
  line(`(c) rebase layer bytes sent      ${r.rebase.traffic.layerBytes}`, "0", r.rebase.traffic.layerBytes === 0);
  line(`(d) image saves (a…, b…, c)      ${saves.join(", ")}`, "all 0", saves.every((s) => s === 0));
  console.log("\nWall times are the phase's process (or skopeo's) alone; the analyzer runs before each export, untimed. The");
  console.log(`skopeo copy sent ${mb(r.layoutBytes)} of layer tars. CPU seconds: tool = exporter, rebaser or skopeo; daemon = the podman`);
  console.log("service; proxy = this process (the engine proxy); others = the rest of the machine; steal = taken by the hypervisor.");
  console.log("The rebase sends no layer, but podman still re-creates the app's layers on the new base from its own storage.");
}

await main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
