// What the rebaser prints, line for line (go-transcript.md § rebaser): a changed line here is a
// deliberate decision. The phase runs in-process on an app image exported into an OCI layout.
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { MemoryLogger } from "../../src/log/logger.js";
import { rebase } from "../../src/phase/rebaser.js";
import { saveImage } from "../../src/phase/save-image.js";
import { useTempDir } from "../harness/vitest/use-temp-dir.js";
import { APP_IMAGE, buildWorkspace, masked, phaseSetup, runAnalyzer, runExporter, writeRunImage, type PhaseSetup } from "./transcript-fixtures.js";

const temp = useTempDir("rebaser-transcript");
let setup: PhaseSetup;
const NEW_RUN = "registry.test/acme/run:2";

beforeAll(async () => {
  setup = await phaseSetup(temp());
  const ws = buildWorkspace(join(temp(), "build"));
  const exported = await runExporter(setup, ws, (await runAnalyzer(setup, ws)).analyzed);
  expect(exported.error).toBeUndefined();
  // a new base under another name, for another architecture, with another base id
  await writeRunImage(setup.layoutDir, NEW_RUN, { architecture: "arm64", baseId: "io.acme.base2", content: "ID=test\nVERSION=2\n" });
});

async function rebaseOnto(force: boolean, logger = new MemoryLogger("info")): Promise<string[]> {
  const { store, features } = setup;
  const newBase = await store.openBase(NEW_RUN, logger);
  const image = await rebase({
    features,
    logger,
    appImage: store.open(APP_IMAGE),
    newBase,
    newBaseName: NEW_RUN,
    newBaseReference: await newBase.identifier(),
    force,
  });
  await saveImage(store, image, [APP_IMAGE], logger);
  return logger.lines;
}

describe("rebaser transcript (OCI layout)", () => {
  it("refuses a new base of another target and name without -force, printing nothing", async () => {
    const logger = new MemoryLogger("info");
    await expect(rebaseOnto(false, logger)).rejects.toThrow(
      'unable to satisfy target os/arch constraints; new run image: {"id":"io.acme.base2","os":"linux","arch":"arm64"}, old run image: {"id":"io.acme.base","os":"linux","arch":"amd64"}; please provide -force to override',
    );
    expect(logger.lines).toEqual([]);
  });

  it("with -force warns as Go does, with Go's JSON, then saves", async () => {
    expect(masked(await rebaseOnto(true), temp())).toEqual([
      'Warning: unable to satisfy target os/arch constraints; new run image: {"id":"io.acme.base2","os":"linux","arch":"arm64"}, old run image: {"id":"io.acme.base","os":"linux","arch":"amd64"}',
      "Warning: rebase app image: new base image 'registry.test/acme/run:2' not found in existing run image metadata: " +
        '{"topLayer":"sha256:<digest>","reference":"<tmp>/layout/registry.test/acme/run/2@sha256:<digest>","image":"registry.test/acme/run:1"}',
      "Saving <tmp>/layout/registry.test/acme/app/main...",
      "*** Images (<tmp>/layout/registry.test/acme/app/main@sha256:<digest>):",
      "      <tmp>/layout/registry.test/acme/app/main",
    ]);
  });
});
