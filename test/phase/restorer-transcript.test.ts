// What the restorer prints, line for line (go-transcript.md § restorer): a changed line here is a
// deliberate decision. The phase runs in-process on the cache and metadata a real export left.
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { Workspace } from "../../acceptance/helpers/workspace.js";
import { MemoryLogger } from "../../src/log/logger.js";
import { restore } from "../../src/phase/restorer.js";
import type { LifecycleMetadata } from "../../src/platform/files/lifecycle-metadata.js";
import { useTempDir } from "../harness/vitest/use-temp-dir.js";
import { BUILD, buildWorkspace, phaseSetup, runAnalyzer, runExporter, volumeCache, type PhaseSetup } from "./transcript-fixtures.js";

const temp = useTempDir("restorer-transcript");
let setup: PhaseSetup;
let ws: Workspace;
let appMetadata: LifecycleMetadata;

beforeAll(async () => {
  setup = await phaseSetup(temp());
  ws = buildWorkspace(join(temp(), "build"));
  const exported = await runExporter(setup, ws, (await runAnalyzer(setup, ws)).analyzed);
  expect(exported.error).toBeUndefined();
  appMetadata = (await runAnalyzer(setup, ws)).analyzed.metadata;
});

/** Restores into the build's layers dir emptied of the buildpacks' output (as a new build starts); returns the lines. */
async function restoreLines(metadata: LifecycleMetadata, skipLayers = false): Promise<string[]> {
  for (const dir of ["acme_node", "acme_npm", "sbom"]) rmSync(join(ws.layers, dir), { recursive: true, force: true });
  const logger = new MemoryLogger("info");
  await restore({
    features: setup.features,
    logger,
    layersDir: ws.layers,
    group: BUILD.group.map((g) => ({ id: g.id, version: g.version, api: "0.10", optional: false })),
    appMetadata: metadata,
    cache: await volumeCache(ws),
    skipLayers,
  });
  return logger.lines;
}

describe("restorer transcript (volume cache)", () => {
  it("restores metadata for every buildpack first, then the cached layers' data and the SBOM", async () => {
    expect(await restoreLines(appMetadata)).toEqual([
      'Restoring metadata for "acme/node:node" from app image',
      'Restoring metadata for "acme/node:buildtools" from cache',
      'Restoring metadata for "acme/npm:modules" from app image',
      'Restoring data for "acme/node:buildtools" from cache',
      'Restoring data for "acme/node:node" from cache',
      "Restoring data for SBOM from cache",
    ]);
    expect(existsSync(join(ws.layers, "acme_node", "node", "bin", "node"))).toBe(true);
    expect(existsSync(join(ws.layers, "acme_node", "node.sbom.cdx.json"))).toBe(true);
  });

  it("removes a layer whose app-image sha differs from the cache's", async () => {
    const md = structuredClone(appMetadata);
    const node = md.buildpacks.find((b) => b.key === "acme/node")?.layers.node;
    if (!node) throw new Error("the export recorded no acme/node:node layer");
    node.sha = `sha256:${"0".repeat(64)}`;
    expect(await restoreLines(md)).toEqual([
      'Restoring metadata for "acme/node:node" from app image',
      'Restoring metadata for "acme/node:buildtools" from cache',
      'Restoring metadata for "acme/npm:modules" from app image',
      'Restoring data for "acme/node:buildtools" from cache',
      'Removing "acme/node:node", wrong sha',
      "Restoring data for SBOM from cache",
    ]);
  });

  it("says once that it skips the layers with -skip-layers", async () => {
    expect(await restoreLines(appMetadata, true)).toEqual(["Skipping buildpack layer analysis"]);
  });
});
