// Tables and target checks of the rebaser benchmark: medians over runs of each measured command's
// wall time and classified traffic, the per-name upload table, and the upload targets.
import type { RepoTraffic, Traffic } from "./_rebaser-traffic.js";
import { median } from "./_args.js";

/** One measured command in one run. */
export interface Sample {
  readonly seconds: number;
  readonly traffic: Traffic;
}

/** A table column: a command measured once per run. */
export interface Column {
  readonly title: string;
  readonly samples: readonly Sample[];
}

const METHODS = ["GET", "HEAD", "POST", "PATCH", "PUT", "DELETE"];


function sumRepos(traffic: Traffic, field: keyof RepoTraffic): number {
  let n = 0;
  for (const r of traffic.repos.values()) n += r[field];
  return n;
}

/** The numbers of one sample, by row label (in display order). */
function metrics(sample: Sample): [string, number][] {
  const t = sample.traffic;
  return [
    ["wall time (s)", sample.seconds],
    ["requests", t.requests],
    ...METHODS.map((m): [string, number] => [`  ${m}`, t.byMethod[m] ?? 0]),
    ["  manifests", t.byKind.manifests],
    ["  blobs", t.byKind.blobs],
    ["  uploads", t.byKind.uploads],
    ["  other (/v2/ ping)", t.byKind.other],
    ["request body bytes", t.bytes],
    ["  layer bytes", t.layerBytes],
    ["  config+manifest bytes", t.configManifestBytes],
    ["config uploads", sumRepos(t, "configUploads")],
    ["manifest PUTs", [...t.manifestPuts.values()].reduce((a, b) => a + b, 0)],
    ["layer uploads", sumRepos(t, "layerUploads")],
    ["blob mounts (201)", sumRepos(t, "mounts")],
    ["blob HEAD hits (skipped)", sumRepos(t, "headHits")],
  ];
}

function formatBytes(n: number): string {
  if (n < 10 * 1024) return `${n} B`;
  return n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

function formatValue(label: string, value: number): string {
  if (label.startsWith("wall")) return value.toFixed(2);
  if (label.includes("bytes")) return formatBytes(value);
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

/** Prints rows as a table with a header rule. */
export function printRows(rows: readonly (readonly string[])[]): void {
  const widths = rows[0]?.map((_, col) => Math.max(...rows.map((r) => (r[col] ?? "").length))) ?? [];
  for (const [i, row] of rows.entries()) {
    console.log(row.map((cell, col) => (col === 0 ? cell.padEnd(widths[col] ?? 0) : cell.padStart(widths[col] ?? 0))).join("  │  ").trimEnd());
    if (i === 0) console.log(widths.map((w) => "─".repeat(w)).join("──┼──"));
  }
}

/** The main table: one row per metric, one column per command, medians over the runs. */
export function printMedianTable(columns: readonly Column[]): void {
  const perColumn = columns.map((c) => c.samples.map(metrics));
  const labels = (perColumn[0]?.[0] ?? []).map(([label]) => label);
  const rows: string[][] = [["median of runs", ...columns.map((c) => c.title)]];
  for (const [i, label] of labels.entries()) {
    const values = perColumn.map((samples) => median(samples.map((m) => m[i]?.[1] ?? 0)));
    if (METHODS.some((m) => label === `  ${m}`) && values.every((v) => v === 0)) continue;
    rows.push([label, ...values.map((v) => formatValue(label, v))]);
  }
  printRows(rows);
}

/** `repo` and `tag` of `host/repo:tag`. */
export function repoAndTag(name: string): { repo: string; tag: string } {
  const path = name.slice(name.indexOf("/") + 1);
  const colon = path.lastIndexOf(":");
  return { repo: path.slice(0, colon), tag: path.slice(colon + 1) };
}

function perName(traffic: Traffic, name: string): { config: number; manifest: number; layers: number; layerBytes: number; mounts: number; heads: number } {
  const { repo, tag } = repoAndTag(name);
  const r = traffic.repos.get(repo);
  return {
    config: r?.configUploads ?? 0,
    manifest: traffic.manifestPuts.get(`${repo}:${tag}`) ?? 0,
    layers: r?.layerUploads ?? 0,
    layerBytes: r?.layerBytes ?? 0,
    mounts: r?.mounts ?? 0,
    heads: r?.headHits ?? 0,
  };
}

/** Per name of a rebase: uploads into its repository and manifest PUTs of its tag (medians). */
export function printPerName(samples: readonly Sample[], names: readonly (readonly string[])[], labels: readonly string[]): void {
  const rows: string[][] = [["name (repository uploads are shared by its tags)", "config uploads (repo)", "manifest PUTs", "layer uploads (repo)", "layer bytes (repo)", "mounts (repo)", "HEAD hits (repo)"]];
  for (const [i, label] of labels.entries()) {
    const values = samples.map((s, run) => perName(s.traffic, names[run]?.[i] ?? ""));
    const m = (f: (v: ReturnType<typeof perName>) => number) => String(median(values.map(f)));
    rows.push([label, m((v) => v.config), m((v) => v.manifest), m((v) => v.layers), formatBytes(median(values.map((v) => v.layerBytes))), m((v) => v.mounts), m((v) => v.heads)]);
  }
  printRows(rows);
}

/** Target misses of one rebase: >1 config upload or manifest PUT per name, any layer bytes. */
export function targetMisses(traffic: Traffic, names: readonly string[]): string[] {
  const misses: string[] = [];
  for (const name of names) {
    const v = perName(traffic, name);
    if (v.config > 1) misses.push(`${name}: ${v.config} config uploads into ${repoAndTag(name).repo} (target ≤ 1)`);
    if (v.manifest > 1) misses.push(`${name}: ${v.manifest} manifest PUTs (target ≤ 1)`);
    if (v.manifest === 0) misses.push(`${name}: no manifest PUT (the name was not written)`);
  }
  if (traffic.layerBytes > 0) misses.push(`${traffic.layerBytes} layer bytes uploaded (target 0)`);
  return misses;
}
