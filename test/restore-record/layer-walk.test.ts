import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { absPath } from "../../src/layers/fs-entries.js";
import { directoryLayerSource } from "../../src/layers/index.js";
import { compareArchiveOrder } from "../../src/restore-record/layer-check.js";
import { walkLayer } from "../../src/restore-record/layer-walk.js";

let base: string;

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), "layer-walk-test-"));
  for (const dir of ["a/b", "a/b2", "a-b", "a.b/c", "B"]) await mkdir(join(base, "layer", dir), { recursive: true });
  for (const file of ["a/b/c", "a/b/c-d", "a/b.txt", "a-b/x", "a0", "Z", "é"]) await writeFile(join(base, "layer", file), file);
});

afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

describe("layer walk", () => {
  it("meets entries in the exporter's archive order", async () => {
    const root = join(base, "layer");
    const walked = [...walkLayer(absPath(root))].map((e) => e.path.toString("utf8"));
    const tarred: string[] = [];
    for await (const e of directoryLayerSource(root, { uid: 0, gid: 0 }).entries()) tarred.push(Buffer.from(e.name).toString("utf8"));
    expect(walked).toEqual(tarred.slice(tarred.indexOf(root)));
  });

  it("archive order, as the record is merged with a walk, sorts the walk's paths", () => {
    const rels = [...walkLayer(absPath(join(base, "layer")))].map((e) => e.rel.toString("latin1"));
    const sorted = [...rels].sort(compareArchiveOrder);
    expect(sorted).toEqual(rels);
    expect(rels.indexOf("a/b2")).toBeGreaterThan(rels.indexOf("a/b/c-d"));
    expect(rels.indexOf("a-b")).toBeGreaterThan(rels.indexOf("a/b2"));
  });
});
