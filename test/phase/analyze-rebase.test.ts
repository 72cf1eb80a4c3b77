// The analyzer and the rebaser in-process, on a small in-memory image store.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildTar } from "../../acceptance/helpers/fixtures.js";
import { BufferLayer } from "../../src/image/file-layer.js";
import { MutableImage } from "../../src/image/mutable-image.js";
import { MemoryLogger } from "../../src/log/logger.js";
import { sha256Digest } from "../../src/oci/digest.js";
import { MediaType } from "../../src/oci/media-types.js";
import { analyze } from "../../src/phase/analyzer.js";
import { rebase, RebaseValidationError } from "../../src/phase/rebaser.js";
import { ApiVersion } from "../../src/platform/api-version.js";
import { platformFeatures } from "../../src/platform/features.js";
import { LIFECYCLE_METADATA_LABEL } from "../../src/platform/files/lifecycle-metadata.js";
import { MemoryStore } from "./memory-store.js";

const features = platformFeatures(ApiVersion.must("0.15"));
let root: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "analyze-rebase-"));
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

async function layer(path: string, content: string): Promise<BufferLayer> {
  const tar = await buildTar([{ path, content }]);
  const gz = gzipSync(tar);
  return new BufferLayer(gz, sha256Digest(gz), sha256Digest(tar), MediaType.OciLayerGzip);
}

/** A run image: `n` layers, an arch, base labels. */
async function runImage(tag: string, n: number, architecture = "amd64"): Promise<MutableImage> {
  const image = MutableImage.scratch("linux", architecture);
  for (let i = 0; i < n; i++) image.addLayer(await layer(`/etc/${tag}-${i}`, `${tag} ${i}`), { created_by: `${tag} layer ${i}` });
  image.setLabel("io.buildpacks.base.id", `io.acme.${tag}`);
  image.setLabel("io.buildpacks.base.distro.name", "ubuntu");
  image.setLabel("io.buildpacks.base.distro.version", "22.04");
  return image;
}

/** An app image on `base` with two app layers and the lifecycle label naming `names`. */
async function appImage(base: MutableImage, names: { image: string; mirrors?: string[] }, labels: Record<string, string> = {}): Promise<MutableImage> {
  const app = new MutableImage(structuredClone(base.editableConfig), base.layerList, "oci");
  const top = base.layerList.at(-1)?.diffId ?? "";
  app.addLayer(await layer("/layers/acme_node/node/bin/node", "node"), { created_by: "bp" });
  app.addLayer(await layer("/workspace/app.js", "app"), { created_by: "app" });
  app.setEnv("CNB_PLATFORM_API", "0.15");
  app.setLabel(
    LIFECYCLE_METADATA_LABEL,
    JSON.stringify({ app: [], buildpacks: [], runImage: { topLayer: top, reference: "old", ...names }, stack: { runImage: names } }),
  );
  for (const [k, v] of Object.entries(labels)) app.setLabel(k, v);
  return app;
}

describe("analyze on an in-memory store", () => {
  it("records the previous image's identifier and label, and the run image's target", async () => {
    const store = new MemoryStore();
    const run = await runImage("jammy", 2);
    await store.put("r.test/run:1", run);
    await store.put("r.test/app:1", await appImage(run, { image: "r.test/run:1" }));
    const logger = new MemoryLogger("info");
    const analyzed = await analyze({
      features,
      logger,
      layersDir: join(root, "layers"),
      skipLayers: false,
      previousImage: { name: "r.test/app:1", image: store.open("r.test/app:1"), display: "r.test/app:1" },
      runImage: { name: "r.test/run:1", image: store.open("r.test/run:1"), display: "r.test/run:1" },
    });
    expect(analyzed.previousImage?.reference).toBe(await store.open("r.test/app:1").identifier());
    expect(analyzed.metadata.runImage?.topLayer).toBe(run.layerList.at(-1)?.diffId);
    expect(analyzed.runImage).toMatchObject({
      reference: await store.open("r.test/run:1").identifier(),
      image: "r.test/run:1",
      target: { id: "io.acme.jammy", os: "linux", arch: "amd64", distro: { name: "ubuntu", version: "22.04" } },
    });
    expect(logger.lines).toEqual([]);
  });

  it("says an absent previous or run image is not found and records empty references", async () => {
    const store = new MemoryStore();
    const logger = new MemoryLogger("info");
    const analyzed = await analyze({
      features,
      logger,
      layersDir: join(root, "layers"),
      skipLayers: false,
      previousImage: { name: "r.test/app:1", image: store.open("r.test/app:1"), display: "r.test/app:1" },
      runImage: { name: "r.test/run:1", image: store.open("r.test/run:1"), display: "r.test/run:1" },
    });
    expect(analyzed.previousImage?.reference).toBe("");
    expect(analyzed.runImage?.reference).toBe("");
    expect(logger.lines).toEqual(['Image with name "r.test/app:1" not found', 'Image with name "r.test/run:1" not found']);
  });
});

describe("rebase on in-memory images", () => {
  it("swaps the run image's layers, keeps the app's, and records the new base in the label", async () => {
    const store = new MemoryStore();
    const old = await runImage("jammy", 2);
    const next = await runImage("jammy", 3);
    await store.put("r.test/app:1", await appImage(old, { image: "r.test/run:1" }));
    await store.put("r.test/run:1", next);
    const app = store.open("r.test/app:1");
    const rebased = await rebase({
      features,
      logger: new MemoryLogger(),
      appImage: app,
      newBase: store.open("r.test/run:1"),
      newBaseName: "r.test/run:1",
      newBaseReference: "mem:new-base",
      force: false,
    });
    const before = await app.layers();
    expect(rebased.layerList.map((l) => l.diffId)).toEqual([...next.layerList, ...before.slice(2)].map((l) => l.diffId));
    const md = JSON.parse(rebased.labels()[LIFECYCLE_METADATA_LABEL] ?? "{}") as { runImage: { topLayer: string; reference: string } };
    expect(md.runImage).toMatchObject({ topLayer: next.layerList.at(-1)?.diffId, reference: "mem:new-base" });
  });

  it("refuses an app that is not rebasable or a new base of another architecture unless forced", async () => {
    const store = new MemoryStore();
    const old = await runImage("jammy", 1);
    await store.put("r.test/app:1", await appImage(old, { image: "r.test/run:1" }, { "io.buildpacks.rebasable": "false" }));
    await store.put("r.test/run:1", await runImage("jammy", 1, "arm64"));
    const options = {
      features,
      appImage: store.open("r.test/app:1"),
      newBase: store.open("r.test/run:1"),
      newBaseName: "r.test/run:1",
      newBaseReference: "mem:arm",
    };
    const refused = await rebase({ ...options, logger: new MemoryLogger(), force: false }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(RebaseValidationError);
    expect((refused as Error).message).toBe("app image is not marked as rebasable; please provide -force to override");
    const logger = new MemoryLogger("info");
    const forced = await rebase({ ...options, logger, force: true });
    expect(forced.editableConfig.architecture).toBe("arm64");
    expect(logger.lines.filter((l) => l.startsWith("Warning: "))).toEqual([
      "Warning: app image is not marked as rebasable",
      expect.stringMatching(/^Warning: unable to satisfy target os\/arch constraints; new run image: .*"arch":"arm64".*, old run image: .*"arch":"amd64"/),
    ]);
  });
});
