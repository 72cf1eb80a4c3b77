// What the analyzer prints, line for line (go-transcript.md § analyzer): a changed line here is a
// deliberate decision. The phase runs in-process on OCI layouts, which Go names by their paths.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { useTempDir } from "../harness/vitest/use-temp-dir.js";
import { buildWorkspace, masked, phaseSetup, runAnalyzer, runExporter, type PhaseSetup } from "./transcript-fixtures.js";

const temp = useTempDir("analyzer-transcript");
let setup: PhaseSetup;

beforeAll(async () => {
  setup = await phaseSetup(temp());
});

describe("analyzer transcript (OCI layout)", () => {
  it("names the missing previous image on a first build, and restores the previous SBOM on a rebuild", async () => {
    const ws = buildWorkspace(join(temp(), "build"));
    const first = await runAnalyzer(setup, ws);
    expect(masked(first.lines, temp())).toEqual(['Image with name "<tmp>/layout/registry.test/acme/app/main" not found']);
    const exported = await runExporter(setup, ws, first.analyzed);
    expect(exported.error).toBeUndefined();

    const again = await runAnalyzer(setup, ws);
    expect(again.lines).toEqual(["Restoring data for SBOM from previous image"]);
    expect(existsSync(join(ws.layers, "sbom", "launch", "acme_node", "node", "sbom.cdx.json"))).toBe(true);
    expect(again.analyzed.previousImage?.reference).toMatch(/@sha256:[0-9a-f]{64}$/);
  });

  it("says so for a run image that does not exist, as Go does for any image it looks up", async () => {
    const ws = buildWorkspace(join(temp(), "no-run"));
    const run = await runAnalyzer(setup, ws, { image: "registry.test/acme/other:1", run: "registry.test/acme/missing-run:1" });
    expect(masked(run.lines, temp())).toEqual([
      'Image with name "<tmp>/layout/registry.test/acme/other/1" not found',
      'Image with name "<tmp>/layout/registry.test/acme/missing-run/1" not found',
    ]);
    expect(run.analyzed.runImage?.reference).toBe("");
  });
});
