// What the exporter prints, line for line (go-transcript.md § exporter): a changed line here is a
// deliberate decision. The phase runs in-process on real local inputs (OCI layouts, a volume cache).
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { SaveError } from "../../src/phase/save-image.js";
import { useTempDir } from "../harness/vitest/use-temp-dir.js";
import { APP_IMAGE, buildWorkspace, masked, phaseSetup, runAnalyzer, runExporter, type PhaseSetup } from "./transcript-fixtures.js";

const temp = useTempDir("exporter-transcript");
let setup: PhaseSetup;

beforeAll(async () => {
  setup = await phaseSetup(join(temp(), "first"));
});

const APP_PATH = "<tmp>/layout/registry.test/acme/app/main";

describe("exporter transcript (OCI layout, volume cache)", () => {
  it("prints Go's lines for a first build and a rebuild", async () => {
    const ws = buildWorkspace(join(setup.root, "ws"));
    const first = await runExporter(setup, ws, (await runAnalyzer(setup, ws)).analyzed, [APP_IMAGE, "registry.test/acme/app:v1"]);
    expect(first.error).toBeUndefined();
    expect(masked(first.lines, setup.root)).toEqual([
      `Using app image: ${APP_PATH}`,
      "Adding layer 'acme/node:node'",
      "Adding layer 'acme/npm:modules'",
      "Adding layer 'buildpacksio/lifecycle:launch.sbom'",
      "Added 2/2 app layer(s)",
      "Adding layer 'buildpacksio/lifecycle:launcher'",
      "Adding layer 'buildpacksio/lifecycle:config'",
      "Adding layer 'buildpacksio/lifecycle:process-types'",
      "Adding label 'io.buildpacks.lifecycle.metadata'",
      "Adding label 'io.buildpacks.build.metadata'",
      "Adding label 'io.buildpacks.project.metadata'",
      "Adding label 'org.acme.team'",
      "Adding label 'io.buildpacks.exec-env'",
      "Setting default process type 'web'",
      `Saving ${APP_PATH}...`,
      `*** Images (${APP_PATH}@sha256:<digest>):`,
      `      ${APP_PATH}`,
      "      <tmp>/layout/registry.test/acme/app/v1",
      "Adding cache layer 'acme/node:buildtools'",
      "Adding cache layer 'acme/node:node'",
      "Adding cache layer 'buildpacksio/lifecycle:cache.sbom'",
    ]);

    const again = await runExporter(setup, ws, (await runAnalyzer(setup, ws)).analyzed);
    expect(again.error).toBeUndefined();
    expect(masked(again.lines, setup.root)).toEqual([
      `Reusing layers from image '${APP_PATH}'`,
      `Using app image: ${APP_PATH}`,
      "Reusing layer 'acme/node:node'",
      "Reusing layer 'acme/npm:modules'",
      "Reusing layer 'buildpacksio/lifecycle:launch.sbom'",
      "Reused 2/2 app layer(s)",
      "Reusing layer 'buildpacksio/lifecycle:launcher'",
      "Reusing layer 'buildpacksio/lifecycle:config'",
      "Reusing layer 'buildpacksio/lifecycle:process-types'",
      "Adding label 'io.buildpacks.lifecycle.metadata'",
      "Adding label 'io.buildpacks.build.metadata'",
      "Adding label 'io.buildpacks.project.metadata'",
      "Adding label 'org.acme.team'",
      "Adding label 'io.buildpacks.exec-env'",
      "Setting default process type 'web'",
      `Saving ${APP_PATH}...`,
      `*** Images (${APP_PATH}@sha256:<digest>):`,
      `      ${APP_PATH}`,
      "Reusing cache layer 'acme/node:buildtools'",
      "Reusing cache layer 'acme/node:node'",
      "Reusing cache layer 'buildpacksio/lifecycle:cache.sbom'",
    ]);
  });

  it("attempts every name, lists the one that failed with its cause, and writes no report", async () => {
    const s = await phaseSetup(join(temp(), "names"));
    const ws = buildWorkspace(join(s.root, "ws"));
    // a file where the layout directory of the second name would go
    const blocked = join(s.layoutDir, "registry.test", "acme", "app", "blocked");
    mkdirSync(join(blocked, ".."), { recursive: true });
    writeFileSync(blocked, "not a directory");
    const names = ["registry.test/acme/app:blocked", APP_IMAGE, "registry.test/acme/app:v2"];
    const run = await runExporter(s, ws, (await runAnalyzer(s, ws, { image: names[0] })).analyzed, names);
    expect(run.error).toBeInstanceOf(SaveError);
    const lines = masked(run.lines, s.root);
    const saving = lines.findIndex((l) => l.startsWith("Saving "));
    expect(lines.slice(saving)).toEqual([
      "Saving <tmp>/layout/registry.test/acme/app/blocked...",
      "*** Images (<tmp>/layout/registry.test/acme/app/blocked@sha256:<digest>):",
      expect.stringMatching(/^ {6}<tmp>\/layout\/registry\.test\/acme\/app\/blocked - .*(ENOTDIR|EEXIST|not a directory)/),
      `      ${APP_PATH}`,
      "      <tmp>/layout/registry.test/acme/app/v2",
    ]);
    // the other names were saved; the cache step does not run after a failed save; no report
    expect(existsSync(join(s.layoutDir, "registry.test", "acme", "app", "main", "index.json"))).toBe(true);
    expect(existsSync(join(s.layoutDir, "registry.test", "acme", "app", "v2", "index.json"))).toBe(true);
    expect(existsSync(join(ws.layers, "report.toml"))).toBe(false);
  });
});
