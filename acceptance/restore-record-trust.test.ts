// When the exporter trusts a restore record (README "The restore record"): only the record the
// restorer wrote in this build, for this layers directory and this -uid/-gid; and what trusting it
// spares: not one byte of an unchanged layer is read (the files are unreadable to the exporter).
import { chmodSync, closeSync, cpSync, existsSync, lstatSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { recordPath, RestoreRecordSchema } from "../src/restore-record/record-file.js";
import { buildRunImage, expectNoLeakedProcesses, pushImage } from "../test/harness/index.js";
import { useRegistry } from "../test/harness/vitest/use-registry.js";
import { useTempDir } from "../test/harness/vitest/use-temp-dir.js";
import { runLifecycle } from "./helpers/lifecycle.js";
import { analyze, diffIdLine, exportImage, firstBuild, layerDir, restore, unpack, type BuildContext } from "./helpers/rebuild.js";
import { exporterArgs } from "./helpers/workspace.js";

expectNoLeakedProcesses();
const reg = useRegistry("plain");
const temp = useTempDir("restore-record-trust");

const RUNTIME = "acme/node:runtime";
/** Runs a phase as root without the capabilities that let root read any file: plain file modes apply. */
const NO_DAC_OVERRIDE = ["setpriv", "--inh-caps=-dac_override,-dac_read_search", "--bounding-set=-dac_override,-dac_read_search", "--"];
let ctx: BuildContext;
let tags = 0;

beforeAll(async () => {
  const runImage = await buildRunImage(join(temp(), "run-layout"));
  await pushImage(runImage, reg(), "acme/run:1");
  // a file nobody may read, in the launch+cache layer and in the cache-only layer
  ctx = await firstBuild(join(temp(), "ws"), reg(), "acme/trust", {
    moreFiles: (ws) => {
      for (const layer of ["runtime", "tools"]) writeFileSync(join(layerDir(ws, layer), "secret.bin"), "secret\n", { mode: 0 });
    },
  });
});

/** A rebuild up to the export: analyzer and restorer for image `:<tag>`. */
async function restored(): Promise<string> {
  const tag = `t${++tags}`;
  await analyze(ctx, tag);
  await restore(ctx);
  expect(existsSync(recordPath(ctx.ws.layers))).toBe(true);
  return tag;
}

describe("an unchanged layer is exported with zero bytes read", () => {
  it("its files are unreadable to the exporter, which reuses it and its cache layer from the record", async () => {
    const secret = join(layerDir(ctx.ws, "runtime"), "secret.bin");
    const tag = await restored();
    expect(lstatSync(secret).mode & 0o777).toBe(0);
    const r = await exportImage(ctx, tag, { options: { ...ctx.options, wrapper: NO_DAC_OVERRIDE } });
    expect(diffIdLine(r.stdout, RUNTIME)).toMatch(/from the restore record, no file read/);
    expect(r.stdout).toContain(`Reusing layer '${RUNTIME}'`);
    expect(diffIdLine(r.stdout, "acme/node:tools")).toMatch(/from the restore record, no file read/);
    expect(r.stdout).toContain("Reusing cache layer 'acme/node:runtime'");
    expect(r.stdout).toContain("Reusing cache layer 'acme/node:tools'");
    expect(r.stdout).not.toContain("Warning");
  });

  it("control: without the record the same exporter must read the files, and cannot", async () => {
    const tag = await restored();
    writeFileSync(recordPath(ctx.ws.layers), "");
    const r = await exportImage(ctx, tag, { options: { ...ctx.options, wrapper: NO_DAC_OVERRIDE }, mayFail: true });
    expect(r.code).toBe(62);
    expect(r.output).toMatch(/secret\.bin|EACCES|permission denied/i);
  });
});

describe("the exporter trusts only a record of this build, layers directory and -uid/-gid", () => {
  it("a corrupt record is ignored", async () => {
    const tag = await restored();
    const record = JSON.parse(readFileSync(recordPath(ctx.ws.layers), "utf8")) as Record<string, unknown>;
    writeFileSync(recordPath(ctx.ws.layers), JSON.stringify({ ...record, moment: "soon" }));
    const r = await exportImage(ctx, tag, { noCache: true });
    expect(diffIdLine(r.stdout, RUNTIME)).toMatch(/diffID from reading the layer: restore record ignored: corrupt \(moment: /);
    expect(r.stdout).toContain(`Reusing layer '${RUNTIME}'`);
  });

  it("a record left by an earlier build is ignored when the restorer did not run in this one", async () => {
    const tag = await restored();
    await exportImage(ctx, tag);
    // the next build: the analyzer runs, the restorer does not (pack --clear-cache on old APIs)
    const next = `t${++tags}`;
    const previous = ["-previous-image", `${ctx.endpoint.host}/${ctx.repo}:1`];
    const analyzer = await runLifecycle("analyzer", ["-no-color", "-layers", ctx.ws.layers, "-run", ctx.ws.run, ...previous, `${ctx.endpoint.host}/${ctx.repo}:${next}`], ctx.options);
    expect(analyzer.code, analyzer.output).toBe(0);
    expect(existsSync(recordPath(ctx.ws.layers))).toBe(true);
    const r = await exportImage(ctx, next, { noCache: true });
    expect(diffIdLine(r.stdout, RUNTIME)).toMatch(/restore record ignored: written in another build \(analyzed\.toml changed since the restorer wrote it\)/);
    expect(r.stdout).toContain(`Reusing layer '${RUNTIME}'`);
  });

  it("a record is not trusted for another layers directory (a copy, with the record)", async () => {
    const tag = await restored();
    const copy = `${ctx.ws.layers}-copy`;
    cpSync(ctx.ws.layers, copy, { recursive: true, verbatimSymlinks: true });
    const r = await exportImage(ctx, tag, { noCache: true, args: ["-layers", copy] });
    expect(diffIdLine(r.stdout, RUNTIME)).toMatch(new RegExp(`restore record ignored: written for the layers directory '${ctx.ws.layers}'`));
    expect(r.stdout).toContain(`Adding layer '${RUNTIME}'`);
  });

  it("the restorer records only layers whose cached tar the exporter would write again (an ancestor's mode changed between builds)", async () => {
    const tag = `t${++tags}`;
    await analyze(ctx, tag);
    const mode = lstatSync(ctx.ws.layers).mode & 0o7777;
    expect(mode).not.toBe(0o775);
    chmodSync(ctx.ws.layers, 0o775);
    try {
      const restorer = await restore(ctx, ["-log-level", "debug"]);
      expect(restorer.stdout).toMatch(/Restore record: not recording '.*\/acme_node\/runtime': the exporter would not write the cached tar for it/);
      const r = await exportImage(ctx, tag, { noCache: true });
      expect(diffIdLine(r.stdout, RUNTIME)).toMatch(/diffID from reading the layer/);
      // the tar's /layers entry has the new mode: another diffID
      expect(r.stdout).toContain(`Adding layer '${RUNTIME}'`);
      const rootfs = await unpack(ctx, tag, temp());
      expect(lstatSync(join(rootfs, ctx.ws.layers)).mode & 0o7777).toBe(0o775);
    } finally {
      chmodSync(ctx.ws.layers, mode);
    }
  });

  it("the restorer removes the previous record when it starts, even when it then restores nothing", async () => {
    await restored();
    await restore(ctx, ["-skip-layers"]);
    expect(existsSync(recordPath(ctx.ws.layers))).toBe(false);
  });

  it("a volume cache tar changed after the restore is verified again by the exporter", async () => {
    const tag = await restored();
    const record = RestoreRecordSchema.parse(JSON.parse(readFileSync(recordPath(ctx.ws.layers), "utf8")));
    const tools = record.layers.find((l) => l.dir.endsWith("/tools"));
    if (!tools?.cacheFile) throw new Error("the tools layer's cache tar is not recorded");
    // overwrite the tar's first byte (same size): a corruption the restorer did not see
    const fd = openSync(tools.cacheFile.path, "r+");
    writeSync(fd, Buffer.from("X"), 0, 1, 0);
    closeSync(fd);
    const r = await exportImage(ctx, tag);
    expect(r.stdout).not.toMatch(/Cache layer 'acme\/node:tools': not verified again/);
    expect(r.stdout).toMatch(/Skipping reuse for layer acme\/node:tools: expected layer contents to have SHA/);
    expect(r.stdout).toContain("Adding cache layer 'acme/node:tools'");
    expect(r.stdout).toMatch(/Cache layer 'acme\/node:runtime': not verified again/);
  });
});

describe("a record is not trusted for another -uid/-gid", () => {
  it("the layer is read and exported with the exporter's owner", async () => {
    // the exporter runs as 1234:4321: it must reach the workspace and write report.toml into the layers directory
    const other = await firstBuild(join(temp(), "ws-uid"), reg(), "acme/trust-uid", {
      prepare: (ws) => {
        for (const dir of [temp(), ws.root]) chmodSync(dir, 0o755);
        chmodSync(ws.layers, 0o777);
      },
    });
    const tag = "uid";
    await analyze(other, tag);
    await restore(other);
    const r = await runLifecycle(
      "exporter",
      ["-no-color", "-log-level", "debug", ...exporterArgs(other.ws), `${other.endpoint.host}/${other.repo}:${tag}`],
      { ...other.options, env: { CNB_USER_ID: "1234", CNB_GROUP_ID: "4321" } },
    );
    expect(r.code, r.output).toBe(0);
    expect(diffIdLine(r.stdout, RUNTIME)).toMatch(/restore record ignored: written for -uid\/-gid 0:0, the exporter runs with 1234:4321/);
    expect(r.stdout).toContain(`Adding layer '${RUNTIME}'`);
    const rootfs = await unpack(other, tag, temp());
    const st = lstatSync(join(rootfs, layerDir(other.ws, "runtime"), "bin", "node"));
    expect([st.uid, st.gid]).toEqual([1234, 4321]);
  });
});
