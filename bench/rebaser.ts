// `npm run bench -- rebaser [--runs 3] [--app-layers 10] [--layer-mib 4] [--run-layer-mib 3] [--log]`
//
// The BUILT rebaser (dist/lifecycle/rebaser, or $LIFECYCLE_DIR/rebaser) on one plain harness
// registry behind a counting fault proxy (no rules):
//   run image v1 (3 layers) as acme/run:1; v2 (top layer changed) as acme/run:2 and acme/run:latest;
//   per run, fresh app images (v1 + N generated app layers, lifecycle label naming
//   <proxy>/acme/run:latest with v1's top diffID, CNB_PLATFORM_API=0.14) pushed past the proxy, then
//   - `rebaser <proxy>/acme/app-R:latest`                                         (1 name)
//   - `skopeo inspect --raw` and `skopeo inspect --config` of the rebased image   (reference point)
//   - `rebaser <proxy>/acme/tags-R:latest <…>/acme/tags-R:extra-1 <…>/acme/tags-R-copy:extra-2`
// Reports medians of wall time, requests by method and kind, request body bytes (layer vs
// config/manifest), and checks: ≤1 config upload and ≤1 manifest PUT per name, no layer bytes.
// `--log` prints every measured request of the last run; a missed target prints the offending run's log.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { parse as parseToml } from "smol-toml";
import { z } from "zod";
import type { FileLayer } from "../src/image/file-layer.js";
import type { ImageConfig } from "../test/harness/check/oci-schemas.js";
import { skopeoInspectConfig, skopeoInspectRaw, type RawManifest } from "../test/harness/check/skopeo.js";
import { runTool, ToolError } from "../test/harness/process/run-tool.js";
import { makeTempDir, type TempDir } from "../test/harness/process/temp-dir.js";
import { startFaultProxy, type FaultProxy } from "../test/harness/proxy/fault-proxy.js";
import type { ProxyRequestRecord } from "../test/harness/proxy/request-log.js";
import { startRegistry, type RegistryHandle } from "../test/harness/registry/start-registry.js";
import { generatedLayer, pushAppImage, pushRunImages, type RunImages } from "./_rebaser-fixtures.js";
import { printMedianTable, printPerName, printRows, targetMisses, type Sample } from "./_rebaser-report.js";
import { classify, describeRequests, type Traffic } from "./_rebaser-traffic.js";
import { option } from "./_args.js";

const MiB = 1024 * 1024;
const LABEL = "io.buildpacks.lifecycle.metadata";
const REBASER = join(resolve(process.env.LIFECYCLE_DIR ?? join(process.cwd(), "dist", "lifecycle")), "rebaser");

/** One measured command: wall time, its requests and their classification. */
interface Measured extends Sample {
  readonly records: ProxyRequestRecord[];
}

/** What one run measured. */
interface RunResult {
  readonly single: Measured;
  readonly singleNames: readonly string[];
  readonly raw: Measured;
  readonly config: Measured;
  /** The two skopeo commands together. */
  readonly inspect: Sample;
  readonly multi: Measured;
  readonly multiNames: readonly string[];
}

const ReportSchema = z.object({ image: z.object({ digest: z.string(), tags: z.array(z.string()) }) });
const LabelSchema = z.object({ runImage: z.object({ topLayer: z.string() }) });


async function measure(proxy: FaultProxy, layerDigests: ReadonlySet<string>, fn: () => Promise<unknown>): Promise<Measured> {
  proxy.resetCounters();
  const started = performance.now();
  await fn();
  const seconds = (performance.now() - started) / 1000;
  const records = proxy.requests();
  return { seconds, records, traffic: classify(records, layerDigests) };
}

/** Runs the built rebaser on `names`; rejects with its output when it fails. Returns the reported digest. */
async function rebaser(names: readonly string[], work: string, reportName: string): Promise<string> {
  const report = join(work, `${reportName}.toml`);
  // HOME in the work dir: no docker config of the machine is read
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: work, CNB_PLATFORM_API: "0.14" };
  try {
    await runTool(REBASER, ["-no-color", "-report", report, ...names], { env, timeoutMs: 300_000 });
  } catch (err) {
    if (err instanceof ToolError) throw new Error(`rebaser ${names.join(" ")} exited with ${String(err.exitCode)}:\n${err.stdout}${err.stderr}`);
    throw err;
  }
  return ReportSchema.parse(parseToml(await readFile(report, "utf8"))).image.digest;
}

function digestOf(raw: RawManifest): string {
  return `sha256:${createHash("sha256").update(raw.raw).digest("hex")}`;
}

/** Checks a rebased image: v2's layers then the app layers, the label's new top layer, env and base labels. */
function verifyRebased(name: string, raw: RawManifest, config: ImageConfig, expectedLayers: readonly string[], run: RunImages): void {
  const layers = (raw.manifest?.layers ?? []).map((l) => l.digest);
  if (layers.join() !== expectedLayers.join()) throw new Error(`${name}: layers [${layers.join(", ")}] are not run v2's followed by the app's`);
  const md = LabelSchema.parse(JSON.parse(config.config?.Labels?.[LABEL] ?? "{}"));
  if (md.runImage.topLayer !== run.v2TopDiffId) throw new Error(`${name}: label topLayer ${md.runImage.topLayer} is not v2's ${run.v2TopDiffId}`);
  if (!(config.config?.Env ?? []).includes("CNB_PLATFORM_API=0.14")) throw new Error(`${name}: CNB_PLATFORM_API=0.14 missing from Env`);
  if (config.config?.Labels?.["io.buildpacks.base.released"] !== "v2") throw new Error(`${name}: base labels were not taken from run v2`);
}

/** Everything one run does: push two fresh app images, rebase one alone and one under three names. */
async function oneRun(ctx: {
  readonly run: number;
  readonly registry: RegistryHandle;
  readonly proxy: FaultProxy;
  readonly runImages: RunImages;
  readonly appLayers: readonly FileLayer[];
  readonly layerDigests: ReadonlySet<string>;
  readonly work: string;
}): Promise<RunResult> {
  const { run, registry, proxy, runImages, appLayers, layerDigests, work } = ctx;
  const p = proxy.host;
  const runImageName = `${p}/acme/run:latest`;
  const expectedLayers = [...runImages.v2Layers, ...appLayers.map((l) => l.digest)];
  // fresh repositories each run, so every run finds the same blobs in the same places
  await pushAppImage(runImages, appLayers, registry, `acme/app-${run}:latest`, runImageName);
  await pushAppImage(runImages, appLayers, registry, `acme/tags-${run}:latest`, runImageName);

  const singleNames = [`${p}/acme/app-${run}:latest`];
  let singleDigest = "";
  const single = await measure(proxy, layerDigests, async () => {
    singleDigest = await rebaser(singleNames, work, `report-single-${run}`);
  });
  let raw: RawManifest | undefined;
  let config: ImageConfig | undefined;
  const rawM = await measure(proxy, layerDigests, async () => {
    raw = await skopeoInspectRaw(proxy, `acme/app-${run}:latest`);
  });
  const configM = await measure(proxy, layerDigests, async () => {
    config = await skopeoInspectConfig(proxy, `acme/app-${run}:latest`);
  });
  if (!raw || !config) throw new Error("skopeo inspect returned nothing");
  if (digestOf(raw) !== singleDigest) throw new Error(`report digest ${singleDigest} is not the pushed ${digestOf(raw)}`);
  verifyRebased(singleNames[0] ?? "", raw, config, expectedLayers, runImages);
  const inspectRecords = [...rawM.records, ...configM.records];
  const inspect: Sample = { seconds: rawM.seconds + configM.seconds, traffic: classify(inspectRecords, layerDigests) };

  const multiNames = [`${p}/acme/tags-${run}:latest`, `${p}/acme/tags-${run}:extra-1`, `${p}/acme/tags-${run}-copy:extra-2`];
  let multiDigest = "";
  const multi = await measure(proxy, layerDigests, async () => {
    multiDigest = await rebaser(multiNames, work, `report-multi-${run}`);
  });
  // unmeasured checks, straight at the registry: every name holds the rebased image
  for (const name of multiNames) {
    const ref = name.slice(p.length + 1);
    const [r, c] = await Promise.all([skopeoInspectRaw(registry, ref), skopeoInspectConfig(registry, ref)]);
    if (digestOf(r) !== multiDigest) throw new Error(`${name} has ${digestOf(r)}, the report says ${multiDigest}`);
    verifyRebased(name, r, c, expectedLayers, runImages);
  }
  return { single, singleNames, raw: rawM, config: configM, inspect, multi, multiNames };
}

function explain(title: string, misses: readonly string[], records: readonly ProxyRequestRecord[]): void {
  console.log(`\n${misses.length > 0 ? "✗ target missed: " : ""}${title}:`);
  for (const m of misses) console.log(`    ${m}`);
  console.log("  requests:");
  for (const line of describeRequests(records)) console.log(`    ${line}`);
}

async function main(args: readonly string[]): Promise<boolean> {
  const runs = option(args, "runs", 3, true);
  const appLayerCount = option(args, "app-layers", 10, true);
  const layerMiB = option(args, "layer-mib", 4, true);
  const runLayerMiB = option(args, "run-layer-mib", 3, true);
  const log = args.includes("--log");
  if (!existsSync(REBASER)) throw new Error(`${REBASER} does not exist: run "npm run build" first (or set LIFECYCLE_DIR)`);

  let temp: TempDir | undefined;
  let registry: RegistryHandle | undefined;
  let proxy: FaultProxy | undefined;
  try {
    temp = await makeTempDir("bench-rebaser");
    const work = temp.path;
    registry = await startRegistry("plain");
    proxy = await startFaultProxy({ upstream: { url: registry.url } });
    const started = performance.now();
    const runImages = await pushRunImages(join(work, "fixtures"), registry, runLayerMiB);
    const appLayers: FileLayer[] = [];
    for (let i = 0; i < appLayerCount; i++) {
      appLayers.push(await generatedLayer(join(work, "fixtures", "app"), `app-${i}`, `/workspace/data/file-${i}.bin`, layerMiB * MiB, `app-${i}`));
    }
    const layerDigests = new Set([...runImages.v1Layers, ...runImages.v2Layers, ...appLayers.map((l) => l.digest)]);
    console.log(
      `run image: 3 layers (~${runLayerMiB} MiB generated data each), v2 changes the top layer; app: +${appLayerCount} layers × ${layerMiB} MiB ` +
        `(fixtures in ${((performance.now() - started) / 1000).toFixed(1)} s)`,
    );
    console.log(`registry ${registry.url} (${registry.workDir}) behind counting proxy ${proxy.url}; work dir ${work}`);
    console.log(`rebaser ${REBASER}; ${runs} run(s), medians reported\n`);

    const results: RunResult[] = [];
    for (let run = 1; run <= runs; run++) {
      const r = await oneRun({ run, registry, proxy, runImages, appLayers, layerDigests, work });
      results.push(r);
      console.log(
        `run ${run}: rebase ${r.single.seconds.toFixed(2)} s (${r.single.traffic.requests} requests), ` +
          `skopeo --raw + --config ${r.inspect.seconds.toFixed(2)} s (${r.inspect.traffic.requests}), ` +
          `rebase with 2 extra tags ${r.multi.seconds.toFixed(2)} s (${r.multi.traffic.requests})`,
      );
    }

    console.log("");
    printMedianTable([
      { title: "rebaser (1 name)", samples: results.map((r) => r.single) },
      { title: "rebaser (+2 tags)", samples: results.map((r) => r.multi) },
      { title: "skopeo --raw", samples: results.map((r) => r.raw) },
      { title: "skopeo --config", samples: results.map((r) => r.config) },
      { title: "skopeo both", samples: results.map((r) => r.inspect) },
    ]);
    console.log("\nrebaser with 2 extra tags, per name (medians):");
    printPerName(
      results.map((r) => r.multi),
      results.map((r) => r.multiNames),
      ["<proxy>/acme/tags-R:latest", "<proxy>/acme/tags-R:extra-1", "<proxy>/acme/tags-R-copy:extra-2"],
    );

    // targets, checked in every run (not only the medians)
    const checks: { title: string; misses: string[]; records: ProxyRequestRecord[] }[] = [];
    for (const [i, r] of results.entries()) {
      checks.push({ title: `run ${i + 1}, rebaser (1 name)`, misses: targetMisses(r.single.traffic, r.singleNames), records: r.single.records });
      checks.push({ title: `run ${i + 1}, rebaser (+2 tags)`, misses: targetMisses(r.multi.traffic, r.multiNames), records: r.multi.records });
    }
    const all = (pick: (t: Traffic, names: readonly string[]) => boolean) => results.every((r) => pick(r.single.traffic, r.singleNames) && pick(r.multi.traffic, r.multiNames));
    const perName = (test: (misses: string) => boolean) => (t: Traffic, names: readonly string[]) => !targetMisses(t, names).some(test);
    console.log("\ntargets (every run, both rebases):");
    printRows([
      ["target", "met"],
      ["≤ 1 config upload per name", all(perName((m) => m.includes("config uploads"))) ? "yes" : "NO"],
      ["≤ 1 manifest upload per name (and ≥ 1)", all(perName((m) => m.includes("manifest PUT"))) ? "yes" : "NO"],
      ["0 layer bytes uploaded (HEAD or mount only)", all((t) => t.layerBytes === 0) ? "yes" : "NO"],
    ]);
    const failed = checks.filter((c) => c.misses.length > 0);
    for (const c of failed) explain(c.title, c.misses, c.records);
    const last = results.at(-1);
    if (log && last) {
      explain(`request log, last run, rebaser (1 name)`, [], last.single.records);
      explain(`request log, last run, rebaser (+2 tags)`, [], last.multi.records);
      explain(`request log, last run, skopeo inspect --raw then --config`, [], [...last.raw.records, ...last.config.records]);
    }
    return failed.length === 0;
  } finally {
    await proxy?.stop().catch(() => undefined);
    await registry?.stop().catch(() => undefined);
    await temp?.remove().catch(() => undefined);
  }
}

await main(process.argv.slice(2)).then(
  (ok) => {
    if (!ok) {
      console.log("\nsome targets were missed (requests above)");
      process.exitCode = 1;
    }
  },
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  },
);
