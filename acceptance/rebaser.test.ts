import { createHash } from "node:crypto";
import { cpSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "smol-toml";
import { beforeAll, describe, expect, it } from "vitest";
import {
  buildRunImage,
  expectNoLeakedProcesses,
  faults,
  pushImage,
  skopeoInspectConfig,
  skopeoInspectRaw,
  type BuiltImage,
  type RegistryEndpoint,
} from "../test/harness/index.js";
import { useFaultProxy } from "../test/harness/vitest/use-fault-proxy.js";
import { useRegistry } from "../test/harness/vitest/use-registry.js";
import { useTempDir } from "../test/harness/vitest/use-temp-dir.js";
import { layoutPathForReference } from "../src/image/layout-path.js";
import { at, buildTar, layerFromTar, pushDerivedImage } from "./helpers/fixtures.js";
import { runLifecycle, type RunOptions } from "./helpers/lifecycle.js";

expectNoLeakedProcesses();
const reg = useRegistry("plain");
const other = useRegistry("plain");
const proxy = useFaultProxy(reg);
const temp = useTempDir("rebaser-acceptance");

let run1: BuiltImage;
let run2: BuiltImage;
let runArm: BuiltImage;
let runOtherStack: BuiltImage;
let n = 0;

/** Top diffID of a fixture image. */
function topDiffId(image: BuiltImage): string {
  const ids = image.config.rootfs.diff_ids;
  return ids[ids.length - 1] ?? "";
}

function label(top: string, runImage: { image: string; mirrors?: string[] }, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    app: [{ sha: `sha256:${"1".repeat(64)}` }],
    buildpacks: [],
    config: { sha: "" },
    launcher: { sha: "" },
    "process-types": { sha: "" },
    runImage: { topLayer: top, reference: "", ...runImage },
    stack: { runImage },
    ...extra,
  });
}

/** Pushes an app image: `base` + two app layers, the lifecycle label and CNB_PLATFORM_API in its env. */
async function pushApp(endpoint: RegistryEndpoint, repo: string, base: BuiltImage, runImage: { image: string; mirrors?: string[] }, opts: { api?: string; labels?: Record<string, string> } = {}): Promise<string> {
  const id = ++n;
  const layers = await Promise.all(
    ["one", "two"].map(async (name) => layerFromTar(join(temp(), "blobs"), `app-${id}-${name}`, await buildTar([{ path: `/workspace/${name}.txt`, content: `${name} ${id}` }]))),
  );
  return pushDerivedImage(base.layoutDir, base.tag, endpoint, repo, {
    layers,
    labels: { "io.buildpacks.lifecycle.metadata": label(topDiffId(base), runImage), ...opts.labels },
    env: { CNB_PLATFORM_API: opts.api ?? "0.14" },
  });
}

/** The manifest (layers) and its digest, as skopeo reads them. */
async function inspect(endpoint: RegistryEndpoint, reference: string): Promise<{ digest: string; layers: string[] }> {
  const raw = await skopeoInspectRaw(endpoint, reference);
  return {
    digest: `sha256:${createHash("sha256").update(raw.raw).digest("hex")}`,
    layers: (raw.manifest?.layers ?? []).map((l) => l.digest),
  };
}

function rebaser(args: string[], options: RunOptions = {}) {
  const report = join(temp(), `report-${++n}.toml`);
  return runLifecycle("rebaser", ["-no-color", "-report", report, ...args], options).then((r) => ({ ...r, report }));
}

beforeAll(async () => {
  const layouts = join(temp(), "layouts");
  [run1, run2, runArm, runOtherStack] = await Promise.all([
    buildRunImage(join(layouts, "v1"), { baseId: "io.acme.base", distro: { name: "ubuntu", version: "22.04" }, stackId: "io.acme.stack" }),
    buildRunImage(join(layouts, "v2"), {
      baseId: "io.acme.base",
      distro: { name: "ubuntu", version: "22.04" },
      stackId: "io.acme.stack",
      labels: { "io.buildpacks.base.released": "v2" },
      layers: [{ files: [{ path: "etc/version", content: "v2" }] }],
    }),
    buildRunImage(join(layouts, "arm"), { architecture: "arm64", baseId: "io.acme.base", distro: { name: "ubuntu", version: "22.04" } }),
    buildRunImage(join(layouts, "other"), { stackId: "io.other.stack", distro: { name: "ubuntu", version: "22.04" } }),
  ]);
  await Promise.all([
    pushImage(run2, reg(), "acme/run:latest"),
    pushImage(run2, reg(), "acme/run-mirror:latest"),
    pushImage(run2, other(), "acme/run:latest"),
    pushImage(runArm, reg(), "acme/run-arm:latest"),
    pushImage(runOtherStack, reg(), "acme/run-other:latest"),
  ]);
});

describe("rebasing onto a new run image version (F74, F75)", () => {
  it("replaces the base layers, keeps app layers byte-identical and updates labels, moving no layer bytes", async () => {
    const host = proxy().host;
    const app = `${host}/acme/app:${n + 1}`;
    await pushApp(proxy(), `acme/app:${n + 1}`, run1, { image: `${host}/acme/run:latest`, mirrors: [`${other().host}/acme/run:latest`] });
    const before = await inspect(proxy(), app.slice(host.length + 1));
    proxy().resetCounters();
    const r = await rebaser([app], { platformApi: "0.14" });
    expect(r.code, r.stdout).toBe(0);
    const after = await inspect(proxy(), app.slice(host.length + 1));
    const config = await skopeoInspectConfig(proxy(), app.slice(host.length + 1));
    expect(after.digest).not.toBe(before.digest);
    const baseCount = run2.manifest.layers.length;
    expect(after.layers.slice(0, baseCount)).toEqual(run2.manifest.layers.map((l) => l.digest));
    expect(after.layers.slice(baseCount)).toEqual(before.layers.slice(run1.manifest.layers.length));
    expect(after.layers.length).toBe(baseCount + 2);
    const md = JSON.parse(config.config?.Labels?.["io.buildpacks.lifecycle.metadata"] ?? "{}") as unknown;
    expect(at(md, "runImage", "topLayer")).toBe(topDiffId(run2));
    expect(at(md, "runImage", "reference")).toMatch(new RegExp(`^${host}/acme/run@sha256:`));
    expect(at(md, "runImage", "mirrors")).toEqual([`${other().host}/acme/run:latest`]);
    expect(config.config?.Labels?.["io.buildpacks.base.released"]).toBe("v2");
    expect(config.config?.Env).toContain("CNB_PLATFORM_API=0.14");
    expect(config.os).toBe("linux");
    // no layer bytes uploaded: only HEADs/mounts for layers, one config upload, one manifest PUT
    expect(proxy().count({ method: "PATCH" })).toBe(0);
    const blobPuts = proxy().requests({ method: "PUT", path: /\/blobs\/uploads\// });
    expect(blobPuts.length).toBe(1);
    expect(proxy().count({ method: "PUT", path: /\/manifests\// })).toBe(1);
    const report = parse(readFileSync(r.report, "utf8"));
    expect(at(report, "image", "digest")).toBe(after.digest);
    expect(at(report, "image", "tags")).toEqual([app]);
  });

  it("reads -previous-image and writes the output names, leaving the previous image untouched", async () => {
    const prev = `acme/prev:${n + 1}`;
    await pushApp(reg(), prev, run1, { image: `${reg().host}/acme/run:latest` });
    const before = await inspect(reg(), prev);
    const r = await rebaser(["-previous-image", `${reg().host}/${prev}`, `${reg().host}/acme/out:1`, `${reg().host}/acme/out:2`]);
    expect(r.code, r.stdout).toBe(0);
    expect((await inspect(reg(), prev)).digest).toBe(before.digest);
    const [one, two] = await Promise.all([inspect(reg(), "acme/out:1"), inspect(reg(), "acme/out:2")]);
    expect(one.digest).toBe(two.digest);
    expect(at(parse(readFileSync(r.report, "utf8")), "image", "tags")).toEqual([`${reg().host}/acme/out:1`, `${reg().host}/acme/out:2`]);
  });
});

describe("run image selection (F66-F69)", () => {
  it("validates arguments", async () => {
    expect((await rebaser([])).code).toBe(3);
    const both = await rebaser(["-image", "a/b", "-run-image", "c/d", `${reg().host}/acme/app`]);
    expect(both.code).toBe(3);
    expect(both.stdout).toContain("supply only one of -run-image or (deprecated) -image");
  });

  it("prefers the label's mirror on the app image's registry when the primary is elsewhere", async () => {
    const repo = `acme/app:${n + 1}`;
    await pushApp(reg(), repo, run1, { image: `${other().host}/acme/run:latest`, mirrors: [`${reg().host}/acme/run-mirror:latest`] });
    const r = await rebaser(["-log-level", "debug", `${reg().host}/${repo}`]);
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toContain(`Selected run image '${reg().host}/acme/run-mirror:latest'`);
    const md = JSON.parse((await skopeoInspectConfig(reg(), repo)).config?.Labels?.["io.buildpacks.lifecycle.metadata"] ?? "{}") as unknown;
    expect(at(md, "runImage", "reference")).toMatch(new RegExp(`^${reg().host}/acme/run-mirror@`));
  });

  it("exits 72 when no candidate is readable or the label has no run image", async () => {
    const none = `acme/app:${n + 1}`;
    await pushApp(reg(), none, run1, { image: `${reg().host}/acme/missing:1` });
    const r = await rebaser([`${reg().host}/${none}`]);
    expect(r.code).toBe(72);
    expect(r.stdout).toContain("failed to find accessible run image");
    const empty = `acme/app:${n + 1}`;
    await pushApp(reg(), empty, run1, { image: "" });
    const r2 = await rebaser([`${reg().host}/${empty}`]);
    expect(r2.code).toBe(72);
    expect(r2.stdout).toContain("-run-image is required when there is no run image metadata available");
  });

  it("exits 72 for a missing app image and 1 for a missing run image after six attempts", async () => {
    const missing = await rebaser([`${reg().host}/acme/nothing:1`]);
    expect(missing.code).toBe(72);
    expect(missing.stdout).toContain("failed to set app image");
    const repo = `acme/app:${n + 1}`;
    await pushApp(reg(), repo, run1, { image: `${reg().host}/acme/run:latest` });
    const r = await rebaser(["-run-image", `${reg().host}/acme/run:gone`, `${reg().host}/${repo}`]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("failed to access run image");
    expect(r.stdout).toContain("(attempt 5/6)");
  });
});

describe("validation and -force (F70-F73)", () => {
  it("refuses an app marked not rebasable unless forced", async () => {
    const repo = `acme/app:${n + 1}`;
    await pushApp(reg(), repo, run1, { image: `${reg().host}/acme/run:latest` }, { labels: { "io.buildpacks.rebasable": "false" } });
    const r = await rebaser([`${reg().host}/${repo}`], { platformApi: "0.12" });
    expect(r.code).toBe(72);
    expect(r.stdout).toContain("app image is not marked as rebasable; please provide -force to override");
    const forced = await rebaser(["-force", `${reg().host}/${repo}`], { platformApi: "0.12" });
    expect(forced.code, forced.stdout).toBe(0);
    expect(forced.stdout).toContain("Warning: app image is not marked as rebasable");
  });

  it("refuses a new base of another architecture unless forced", async () => {
    const repo = `acme/app:${n + 1}`;
    await pushApp(reg(), repo, run1, { image: `${reg().host}/acme/run-arm:latest` });
    const r = await rebaser([`${reg().host}/${repo}`]);
    expect(r.code).toBe(72);
    expect(r.stdout).toContain("unable to satisfy target os/arch constraints");
    const forced = await rebaser(["-force", `${reg().host}/${repo}`]);
    expect(forced.code, forced.stdout).toBe(0);
    expect((await skopeoInspectConfig(reg(), repo)).architecture).toBe("arm64");
  });

  it("refuses a run image the label does not name; -force rewrites the label", async () => {
    const repo = `acme/app:${n + 1}`;
    await pushApp(reg(), repo, run1, { image: `${reg().host}/acme/run:latest`, mirrors: [`${other().host}/acme/run:latest`] });
    const newRun = `${reg().host}/acme/run-mirror:latest`;
    const r = await rebaser(["-run-image", newRun, `${reg().host}/${repo}`]);
    expect(r.code).toBe(72);
    expect(r.stdout).toContain(`new base image '${newRun}' not found in existing run image metadata`);
    const forced = await rebaser(["-force", "-run-image", newRun, `${reg().host}/${repo}`]);
    expect(forced.code, forced.stdout).toBe(0);
    const md = JSON.parse((await skopeoInspectConfig(reg(), repo)).config?.Labels?.["io.buildpacks.lifecycle.metadata"] ?? "{}") as unknown;
    expect(at(md, "runImage", "image")).toBe(newRun);
    expect(at(md, "runImage", "mirrors")).toBeUndefined();
    expect(at(md, "stack", "runImage")).toEqual({ image: newRun });
  });

  it("checks stacks for apps built with Platform API < 0.12, even with -force", async () => {
    const repo = `acme/app:${n + 1}`;
    await pushApp(reg(), repo, run1, { image: `${reg().host}/acme/run-other:latest` }, { api: "0.11" });
    for (const args of [[], ["-force"]]) {
      const r = await rebaser([...args, `${reg().host}/${repo}`]);
      expect(r.code).toBe(72);
      expect(r.stdout).toContain("incompatible stack: 'io.other.stack' is not compatible with 'io.acme.stack'");
    }
    const mixins = `acme/app:${n + 1}`;
    await pushApp(reg(), mixins, run1, { image: `${reg().host}/acme/run:latest` }, { api: "0.11", labels: { "io.buildpacks.stack.mixins": '["run:curl","build:gcc"]' } });
    const r = await rebaser([`${reg().host}/${mixins}`]);
    expect(r.code).toBe(72);
    expect(r.stdout).toContain("missing required mixin(s): curl");
  });
});

describe("retry and layout mode", () => {
  it("survives a mirror serving a manifest with no layers for the new run image", async () => {
    const host = proxy().host;
    const repo = `acme/app:${n + 1}`;
    await pushApp(proxy(), repo, run1, { image: `${host}/acme/run:latest` });
    proxy().addRule({ method: "GET", path: /\/v2\/acme\/run\/manifests\//, times: 2, fault: faults.emptyLayers() });
    const r = await rebaser([`${host}/${repo}`]);
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toContain("Failed to open remote image (attempt 1/6): image has no layers, retrying in 100ms");
    expect(r.stdout).toContain("Failed to open remote image (attempt 2/6): image has no layers, retrying in 200ms");
    expect(r.stdout).toContain("Successfully opened remote image after 2 retries");
  });

  it("rebases an image in an OCI layout", async () => {
    const layoutDir = join(temp(), "layout-repo");
    const appName = `${reg().host}/acme/app:layout`;
    const runName = `${reg().host}/acme/run:latest`;
    await pushApp(reg(), "acme/app:layout", run1, { image: runName });
    const { skopeoCopyToLayout } = await import("../test/harness/index.js");
    const appSrc = join(temp(), "layout-src-app");
    const runSrc = join(temp(), "layout-src-run");
    await skopeoCopyToLayout(reg(), "acme/app:layout", appSrc, "latest");
    await skopeoCopyToLayout(reg(), "acme/run:latest", runSrc, "latest");
    mkdirSync(layoutDir, { recursive: true });
    cpSync(appSrc, layoutPathForReference(layoutDir, appName), { recursive: true });
    cpSync(runSrc, layoutPathForReference(layoutDir, runName), { recursive: true });
    const r = await rebaser(["-layout", "-layout-dir", layoutDir, appName], { env: { CNB_EXPERIMENTAL_MODE: "warn" } });
    expect(r.code, r.stdout).toBe(0);
    const index = JSON.parse(readFileSync(join(layoutPathForReference(layoutDir, appName), "index.json"), "utf8")) as unknown;
    expect(at(index, "manifests", 0, "digest")).toBe(at(parse(readFileSync(r.report, "utf8")), "image", "digest"));
  });
});
