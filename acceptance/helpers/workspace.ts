import { chmodSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

/** A buildpack layer the (simulated) builder leaves in `<layers>/<bp>/<name>`. */
export interface LayerSpec {
  readonly bp: string;
  readonly name: string;
  readonly types: { launch?: boolean; build?: boolean; cache?: boolean };
  readonly metadata?: Record<string, string | number>;
  /** Files relative to the layer dir; omitted: a toml-only layer (no directory). */
  readonly files?: Record<string, string>;
  /** Write the flags at the top level (a malformed layer). */
  readonly topLevelFlags?: boolean;
}

/** A process type in metadata.toml. */
export interface ProcessSpec {
  readonly type: string;
  readonly command: string[];
  readonly default?: boolean;
}

/** What the builder produced: group, layers, app, processes, slices, labels. */
export interface BuildSpec {
  readonly group: readonly { id: string; version: string; api?: string }[];
  readonly layers: readonly LayerSpec[];
  readonly app: Record<string, string>;
  readonly processes?: readonly ProcessSpec[];
  readonly defaultProcess?: string;
  readonly slices?: readonly (readonly string[])[];
  readonly labels?: readonly { key: string; value: string }[];
  readonly projectMetadata?: string;
  /** store.toml content per buildpack id. */
  readonly stores?: Record<string, string>;
}

/**
 * A build with what every transcript line needs: cache, launch and build layers, an SBOM, slices,
 * labels, a default process (the transcript tests, in-process and of the binary, build it).
 */
export const TRANSCRIPT_BUILD: BuildSpec = {
  group: [
    { id: "acme/node", version: "1.2.3" },
    { id: "acme/npm", version: "2.0.0" },
  ],
  layers: [
    { bp: "acme/node", name: "node", types: { launch: true, cache: true }, metadata: { version: "20.11.0" }, files: { "bin/node": "node" } },
    { bp: "acme/node", name: "buildtools", types: { build: true, cache: true }, files: { gcc: "gcc" } },
    { bp: "acme/npm", name: "modules", types: { launch: true }, files: { "node_modules/a/index.js": "a" } },
  ],
  app: { "server.js": "console.log('hi')", "public/index.html": "<html/>" },
  processes: [
    { type: "web", command: ["node", "server.js"], default: true },
    { type: "worker", command: ["node", "worker.js"] },
  ],
  defaultProcess: "web",
  slices: [["public/*"]],
  labels: [{ key: "org.acme.team", value: "web" }],
};

/** Paths of a build workspace. */
export interface Workspace {
  readonly root: string;
  readonly layers: string;
  readonly app: string;
  readonly cache: string;
  readonly launcher: string;
  readonly run: string;
}

const q = (s: string) => JSON.stringify(s);

function write(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

/** Creates `<root>/{layers,workspace,cache}`, a launcher file and (if given) run.toml. */
export function createWorkspace(root: string, spec: BuildSpec, runToml?: string): Workspace {
  const ws: Workspace = {
    root,
    layers: join(root, "layers"),
    app: join(root, "workspace"),
    cache: join(root, "cache"),
    launcher: join(root, "launcher"),
    run: join(root, "run.toml"),
  };
  mkdirSync(ws.cache, { recursive: true });
  write(ws.launcher, "#!/bin/sh\nexec \"$@\"\n");
  chmodSync(ws.launcher, 0o755);
  if (runToml !== undefined) write(ws.run, runToml);
  write(
    join(ws.layers, "group.toml"),
    spec.group.map((g) => `[[group]]\n  id = ${q(g.id)}\n  version = ${q(g.version)}\n  api = ${q(g.api ?? "0.10")}\n`).join("\n"),
  );
  for (const [rel, content] of Object.entries(spec.app)) write(join(ws.app, rel), content);
  mkdirSync(ws.app, { recursive: true });
  writeBuildOutput(ws, spec);
  return ws;
}

/** Writes (again) what the builder would write: layer tomls and dirs, metadata.toml, store.toml. */
export function writeBuildOutput(ws: Workspace, spec: BuildSpec): void {
  const lines: string[] = [];
  if (spec.defaultProcess) lines.push(`buildpack-default-process-type = ${q(spec.defaultProcess)}`, "");
  for (const g of spec.group) lines.push("[[buildpacks]]", `  id = ${q(g.id)}`, `  version = ${q(g.version)}`, `  api = ${q(g.api ?? "0.10")}`, "");
  for (const l of spec.labels ?? []) lines.push("[[labels]]", `  key = ${q(l.key)}`, `  value = ${q(l.value)}`, "");
  for (const p of spec.processes ?? []) {
    const bp = spec.group[0]?.id ?? "";
    lines.push("[[processes]]", `  type = ${q(p.type)}`, `  command = [${p.command.map(q).join(", ")}]`, `  buildpack-id = ${q(bp)}`, `  direct = true`);
    if (p.default) lines.push("  default = true");
    lines.push("");
  }
  for (const s of spec.slices ?? []) lines.push("[[slices]]", `  paths = [${s.map(q).join(", ")}]`, "");
  write(join(ws.layers, "config", "metadata.toml"), lines.join("\n"));
  for (const l of spec.layers) {
    const bpDir = join(ws.layers, l.bp.replaceAll("/", "_"));
    const flags = [`launch = ${!!l.types.launch}`, `build = ${!!l.types.build}`, `cache = ${!!l.types.cache}`];
    const meta = Object.entries(l.metadata ?? {}).map(([k, v]) => `  ${k} = ${typeof v === "number" ? v : q(v)}`);
    const toml = l.topLevelFlags
      ? `${flags.join("\n")}\n[metadata]\n${meta.join("\n")}\n`
      : `[types]\n${flags.map((f) => `  ${f}`).join("\n")}\n[metadata]\n${meta.join("\n")}\n`;
    write(join(bpDir, `${l.name}.toml`), toml);
    if (l.files) {
      rmSync(join(bpDir, l.name), { recursive: true, force: true });
      mkdirSync(join(bpDir, l.name), { recursive: true });
      for (const [rel, content] of Object.entries(l.files)) write(join(bpDir, l.name, rel), content);
    }
  }
  for (const [bp, store] of Object.entries(spec.stores ?? {})) write(join(ws.layers, bp.replaceAll("/", "_"), "store.toml"), store);
  if (spec.projectMetadata !== undefined) write(join(ws.layers, "project-metadata.toml"), spec.projectMetadata);
}

/** The exporter's usual arguments for a workspace (pack's form). */
export function exporterArgs(ws: Workspace): string[] {
  return ["-layers", ws.layers, "-app", ws.app, "-launcher", ws.launcher, "-run", ws.run];
}
