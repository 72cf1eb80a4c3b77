// pack's way of running the lifecycle image, replayed with podman (platform-invocations.md §1–§2):
// for an untrusted builder pack runs analyzer, restorer and exporter in separate containers from
// the lifecycle image (`pack build --lifecycle-image`, plus a layer with /workspace owned by the
// builder's user), and detector and builder from the builder image, sharing the /layers,
// /workspace and /cache volumes. Registry mode (--publish) with CNB_REGISTRY_AUTH; daemon mode
// (pack's default) with `-daemon` and `-launch-cache /launch-cache` on analyzer and exporter,
// `-daemon` on the restorer, the daemon's socket bound at /var/run/docker.sock, `label=disable`,
// and no CNB_REGISTRY_AUTH (§2.1 A4, §2.2 R3, §2.3 E3), the daemon being podman's service, on whose
// storage the containers run as Docker runs them on its own.
import { createHash, randomBytes } from "node:crypto";
import { chmod, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parse } from "smol-toml";
import { beforeAll, describe, expect, it } from "vitest";
import { LayoutImage } from "../src/image/layout-image.js";
import { writeLayoutImage } from "../src/image/layout-writer.js";
import { MutableImage } from "../src/image/mutable-image.js";
import { FileLayer } from "../src/image/file-layer.js";
import { staticLayerSource } from "../src/layers/layer-source.js";
import { buildLayerBlob } from "../src/layers/pipeline.js";
import { copyIntoDaemon, expectNoLeakedProcesses, skopeoInspectConfig, skopeoInspectRaw, ToolError, usePodmanService } from "../test/harness/index.js";
import { useRegistry } from "../test/harness/vitest/use-registry.js";
import { useTempDir } from "../test/harness/vitest/use-temp-dir.js";
import { EngineReader, hex } from "./helpers/daemon.js";
import { at, registryAuth } from "./helpers/fixtures.js";
import { appBuild, buildAndPushLifecycleImage, pushTestBuilder, pushTestRunImage, runAppImage } from "./helpers/lifecycle-image.js";
import { usePodman, type Podman } from "./helpers/podman.js";
import { MediaType } from "../src/oci/media-types.js";
import { NORMALIZED_MTIME } from "../src/oci/normalized-time.js";

expectNoLeakedProcesses();
const reg = useRegistry("htpasswd");
const temp = useTempDir("pack-replay");
const podman = usePodman(() => ({ registries: [reg()] }));
const daemon = usePodmanService({ driver: "overlay" });

/** pack 0.40's Platform APIs (internal/build: SupportedPlatformAPIVersions). */
const PACK_PLATFORM_APIS = ["0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9", "0.10", "0.11", "0.12", "0.13", "0.14", "0.15"];
/** The builder's CNB_USER_ID / CNB_GROUP_ID (the stand-in builder's cnb user). */
const CNB_USER = { uid: "1000", gid: "1000" };

let lifecycleRef: string;
let builderRef: string;
let runRef: string;
let appRef: string;
let buildSeconds = 0;

beforeAll(async () => {
  const host = reg().host;
  lifecycleRef = `${host}/cnb/lifecycle-ts:0.1.0`;
  builderRef = `${host}/acme/builder:latest`;
  runRef = `${host}/acme/run:jammy`;
  appRef = `${host}/acme/app`;
  const built = await buildAndPushLifecycleImage(temp(), lifecycleRef, { CNB_REGISTRY_AUTH: registryAuth(reg()) });
  buildSeconds = built.run.seconds;
  await pushTestRunImage(temp(), reg(), "acme/run:jammy");
  await pushTestBuilder(temp(), reg(), "acme/builder:latest", appBuild("hello from pack"));
});

/** Newest API in pack's list that the lifecycle image's label supports (or deprecates), as pack picks it. */
function negotiatePlatformApi(label: string): string {
  const apis = JSON.parse(label) as { platform: { supported: string[]; deprecated: string[] } };
  const offered = new Set([...apis.platform.supported, ...apis.platform.deprecated]);
  const api = [...PACK_PLATFORM_APIS].reverse().find((v) => offered.has(v));
  if (!api) throw new Error(`no common Platform API in ${label}`);
  return api;
}

/** pack's random volume suffix (10 letters a–z). */
function letters(n: number): string {
  return [...randomBytes(n)].map((b) => String.fromCharCode(97 + (b % 26))).join("");
}

/**
 * pack's ephemeral lifecycle image: the lifecycle image plus one layer holding /workspace (0755,
 * owned by the builder's user), saved locally as pack.local/lifecycle/<20 hex>:latest.
 */
async function packLocalLifecycleImage(pm: Podman): Promise<string> {
  const { layout, name } = await packLocalLifecycleLayout();
  await pm.loadLayout(layout, "latest", name);
  return name;
}

/** The layout of pack's ephemeral lifecycle image (tag `latest`) and the name pack gives it. */
async function packLocalLifecycleLayout(): Promise<{ layout: string; name: string }> {
  const base = await MutableImage.from(new LayoutImage(join(temp(), "layout"), { refName: "0.1.0" }));
  const blob = await buildLayerBlob(
    staticLayerSource([{ name: "/workspace", type: "dir", mode: 0o755, uid: Number(CNB_USER.uid), gid: Number(CNB_USER.gid), mtime: NORMALIZED_MTIME }]),
    temp(),
  );
  base.addLayer(new FileLayer(blob.path, blob.digest, blob.diffId, blob.size, MediaType.OciLayerGzip), { created: "1980-01-01T00:00:01Z" });
  const layout = join(temp(), `pack-local-layout-${randomBytes(4).toString("hex")}`);
  await writeLayoutImage(base, layout, { refName: "latest", exclusive: true });
  return { layout, name: `pack.local/lifecycle/${randomBytes(10).toString("hex")}:latest` };
}

/** One phase container as pack configures it (publish mode). */
interface PackContainer {
  readonly image: string;
  /** `root` for the lifecycle image's phases; unset (the image's USER) for detector and builder. */
  readonly user?: string;
  readonly binds: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly argv: readonly string[];
}

/** Runs a phase container (`docker create` + start + wait as pack does, with podman run). */
async function runContainer(pm: Podman, c: PackContainer): Promise<{ code: number; output: string }> {
  const args = ["run", "--rm", "--label", "author=pack", "--security-opt", "no-new-privileges", "--network", "host", "--entrypoint", ""];
  if (c.user) args.push("--user", c.user);
  for (const b of c.binds) args.push("-v", b);
  for (const [k, v] of Object.entries(c.env)) args.push("-e", `${k}=${v}`);
  const r = await pm.attempt([...args, c.image, ...c.argv]);
  return { code: r.code, output: `${r.stdout}${r.stderr}` };
}

/** Volume names and files of one pack build. */
interface PackBuild {
  readonly layers: string;
  readonly app: string;
  readonly cache: string;
}

/** Writes a file into a volume the way pack's `docker cp` does before a phase starts (mode 0755). */
async function copyIntoVolume(pm: Podman, volume: string, name: string, text: string): Promise<void> {
  const path = join(await pm.volumePath(volume), name);
  await writeFile(path, text);
  await chmod(path, 0o755);
}

/** analyze → detect → restore → build → export, each in its own container; returns each phase's output. */
async function packBuild(pm: Podman, lifecycleImage: string, platformApi: string, build: PackBuild): Promise<Record<string, string>> {
  const phaseEnv = { CNB_PLATFORM_API: platformApi, ...(platformApi === "0.15" ? { CNB_EXEC_ENV: "production" } : {}) };
  const runToml = `[[images]]\n  image = "${runRef}"\n  mirrors = []\n\n[[images]]\n  image = "${runRef}"\n  mirrors = []\n`;
  const auth = registryAuth(reg());
  const layersAndApp = [`${build.layers}:/layers`, `${build.app}:/workspace`];
  const lifecycle = (env: Record<string, string>, binds: string[], argv: string[]): PackContainer => ({
    image: lifecycleImage,
    user: "root",
    binds,
    env: { CNB_USER_ID: CNB_USER.uid, CNB_GROUP_ID: CNB_USER.gid, ...env, ...phaseEnv },
    argv,
  });
  const builder = (argv: string[]): PackContainer => ({ image: builderRef, binds: layersAndApp, env: phaseEnv, argv });

  const outputs: Record<string, string> = {};
  const step = async (name: string, c: PackContainer): Promise<void> => {
    const r = await runContainer(pm, c);
    outputs[name] = r.output;
    expect(r.code, `${name}:\n${r.output}`).toBe(0);
  };
  await copyIntoVolume(pm, build.layers, "run.toml", runToml);
  await step("analyzer", lifecycle({ CNB_REGISTRY_AUTH: auth }, layersAndApp, ["/cnb/lifecycle/analyzer", "-run", "/layers/run.toml", "-run-image", runRef, appRef]));
  await step("detector", builder(["/cnb/lifecycle/detector", "-app", "/workspace"]));
  await step("restorer", lifecycle({}, [`${build.cache}:/cache`, ...layersAndApp], ["/cnb/lifecycle/restorer", "-cache-dir", "/cache"]));
  await step("builder", builder(["/cnb/lifecycle/builder", "-app", "/workspace"]));
  await copyIntoVolume(pm, build.layers, "stack.toml", `[run-image]\n  image = "${runRef}"\n  mirrors = []\n`);
  await copyIntoVolume(pm, build.layers, "run.toml", runToml);
  await copyIntoVolume(pm, build.layers, "project-metadata.toml", "");
  await step(
    "exporter",
    lifecycle({ CNB_REGISTRY_AUTH: auth }, [`${build.cache}:/cache`, ...layersAndApp], ["/cnb/lifecycle/exporter", "-app", "/workspace", "-cache-dir", "/cache", "-run", "/layers/run.toml", appRef]),
  );
  return outputs;
}

describe("pack build --publish --lifecycle-image <our image>, replayed with podman", () => {
  it("negotiates the Platform API from the image's label, runs the five containers, pushes an app image that starts through the launcher; the next build reuses the cache volume", async () => {
    const started = performance.now();
    const pm = podman();
    const config = await skopeoInspectConfig(reg(), "cnb/lifecycle-ts:0.1.0");
    const platformApi = negotiatePlatformApi(config.config?.Labels?.["io.buildpacks.lifecycle.apis"] ?? "{}");
    expect(platformApi).toBe("0.15");
    await pm.run(["pull", "-q", lifecycleRef]);
    const lifecycleImage = await packLocalLifecycleImage(pm);
    await pm.run(["pull", "-q", builderRef]);

    const cache = `pack-cache-acme_app_latest-${randomBytes(6).toString("hex")}.build`;
    const build: PackBuild = { layers: `pack-layers-${letters(10)}`, app: `pack-app-${letters(10)}`, cache };
    for (const v of Object.values(build)) await pm.run(["volume", "create", v]);
    const out = await packBuild(pm, lifecycleImage, platformApi, build);
    expect(out.detector).toContain("as 1000:1000");
    expect(out.exporter).toContain("Adding layer 'acme/node:runtime'");
    expect(out.exporter).toContain("Adding layer 'buildpacksio/lifecycle:launcher'");
    expect(out.exporter).toContain("Adding cache layer 'acme/node:tools'");
    // registry mode names the manifest digest, as Go does (daemon mode the image ID's first 12 hex)
    expect(out.exporter).toMatch(new RegExp(`\\*\\*\\* Images \\(sha256:[0-9a-f]{64}\\):\\n\\s+${appRef.replaceAll(".", "\\.")}\\n`));

    const report = parse(await readFile(join(await pm.volumePath(build.layers), "report.toml"), "utf8"));
    const manifest = await skopeoInspectRaw(reg(), "acme/app:latest");
    expect(String(at(report, "image", "digest"))).toBe(`sha256:${createHash("sha256").update(manifest.raw).digest("hex")}`);
    expect(out.exporter).toContain(`*** Images (${String(at(report, "image", "digest"))}):`);
    const appConfig = await skopeoInspectConfig(reg(), "acme/app:latest");
    expect(appConfig.config?.Env).toContain("CNB_PLATFORM_API=0.15");
    expect(JSON.parse(appConfig.config?.Labels?.["io.buildpacks.lifecycle.metadata"] ?? "{}")).toMatchObject({ runImage: { reference: expect.stringContaining("acme/run@sha256:") as unknown } });
    const firstBuild = (performance.now() - started) / 1000;

    const printed = await runAppImage(pm, `${appRef}:latest`);
    expect(printed).toContain("entrypoint=/cnb/process/web");
    expect(printed).toContain("cwd=/workspace");
    expect(printed).toContain("platform-api=0.15");
    expect(printed).toContain("args=--flag");
    expect(printed).toContain("hello from pack");

    // pack's next build: new layers and app volumes, the same cache volume, the previous image in the registry
    const again = performance.now();
    const next: PackBuild = { layers: `pack-layers-${letters(10)}`, app: `pack-app-${letters(10)}`, cache };
    for (const v of [next.layers, next.app]) await pm.run(["volume", "create", v]);
    const out2 = await packBuild(pm, lifecycleImage, platformApi, next);
    expect(out2.restorer).toContain('Restoring data for "acme/node:runtime" from cache');
    expect(out2.exporter).toContain("Reusing layer 'acme/node:runtime'");
    expect(out2.exporter).toContain("Reusing cache layer 'acme/node:tools'");
    console.log(
      `pack replay: image build ${buildSeconds.toFixed(1)} s; first build (5 containers) and app run ${firstBuild.toFixed(1)} s; second build ${((performance.now() - again) / 1000).toFixed(1)} s`,
    );
  });
});

describe("pack build (daemon, pack's default) --lifecycle-image <our image>, replayed with podman's service as the daemon", () => {
  /** Runs a container on the daemon's storage, as pack has Docker create and start it; returns its exit code and output. */
  async function runOnDaemon(c: PackContainer, opts: { daemonAccess: boolean }): Promise<{ code: number; output: string }> {
    // phases with daemon access get label=disable instead of no-new-privileges (§1.2) and the socket
    const args = ["run", "--rm", "--label", "author=pack", "--security-opt", opts.daemonAccess ? "label=disable" : "no-new-privileges", "--network", "none", "--entrypoint", ""];
    if (c.user) args.push("--user", c.user);
    for (const b of c.binds) args.push("-v", b);
    if (opts.daemonAccess) args.push("-v", `${daemon().socketPath ?? ""}:/var/run/docker.sock`);
    for (const [k, v] of Object.entries(c.env)) args.push("-e", `${k}=${v}`);
    try {
      const r = await daemon().podman([...args, c.image, ...c.argv], 300_000);
      return { code: 0, output: `${r.stdout}${r.stderr}` };
    } catch (err) {
      if (!(err instanceof ToolError)) throw err;
      return { code: err.exitCode ?? -1, output: `${err.stdout}${err.stderr}` };
    }
  }

  async function volumePath(volume: string): Promise<string> {
    return (await daemon().podman(["volume", "inspect", "--format", "{{.Mountpoint}}", volume])).stdout.trim();
  }

  async function copyIntoDaemonVolume(volume: string, name: string, text: string): Promise<void> {
    const path = join(await volumePath(volume), name);
    await writeFile(path, text);
    await chmod(path, 0o755);
  }

  /** The app of the daemon builds (the registry holds nothing under this name). */
  const daemonApp = (): string => `${reg().host}/acme/daemon-app`;

  /** analyze → detect → restore → build → export with pack's daemon argv (A4, R3, E3); returns each phase's output. */
  async function packDaemonBuild(lifecycleImage: string, build: PackBuild & { launchCache: string }): Promise<Record<string, string>> {
    const phaseEnv = { CNB_PLATFORM_API: "0.15", CNB_EXEC_ENV: "production" };
    const runToml = `[[images]]\n  image = "${runRef}"\n  mirrors = []\n\n[[images]]\n  image = "${runRef}"\n  mirrors = []\n`;
    const layersAndApp = [`${build.layers}:/layers`, `${build.app}:/workspace`];
    // no CNB_REGISTRY_AUTH in daemon builds
    const lifecycle = (binds: string[], argv: string[]): PackContainer => ({ image: lifecycleImage, user: "root", binds, env: { CNB_USER_ID: CNB_USER.uid, CNB_GROUP_ID: CNB_USER.gid, ...phaseEnv }, argv });
    const builder = (argv: string[]): PackContainer => ({ image: builderRef, binds: layersAndApp, env: phaseEnv, argv });
    const outputs: Record<string, string> = {};
    const step = async (name: string, c: PackContainer, daemonAccess: boolean): Promise<void> => {
      const r = await runOnDaemon(c, { daemonAccess });
      outputs[name] = r.output;
      expect(r.code, `${name}:\n${r.output}`).toBe(0);
    };
    await copyIntoDaemonVolume(build.layers, "run.toml", runToml);
    await step("analyzer", lifecycle([`${build.launchCache}:/launch-cache`, ...layersAndApp], ["/cnb/lifecycle/analyzer", "-daemon", "-run", "/layers/run.toml", "-run-image", runRef, "-launch-cache", "/launch-cache", daemonApp()]), true);
    await step("detector", builder(["/cnb/lifecycle/detector", "-app", "/workspace"]), false);
    await step("restorer", lifecycle([`${build.cache}:/cache`, ...layersAndApp], ["/cnb/lifecycle/restorer", "-cache-dir", "/cache", "-daemon"]), true);
    await step("builder", builder(["/cnb/lifecycle/builder", "-app", "/workspace"]), false);
    await copyIntoDaemonVolume(build.layers, "stack.toml", `[run-image]\n  image = "${runRef}"\n  mirrors = []\n`);
    await copyIntoDaemonVolume(build.layers, "run.toml", runToml);
    await copyIntoDaemonVolume(build.layers, "project-metadata.toml", "");
    await step(
      "exporter",
      lifecycle([`${build.cache}:/cache`, `${build.launchCache}:/launch-cache`, ...layersAndApp], ["/cnb/lifecycle/exporter", "-daemon", "-launch-cache", "/launch-cache", "-app", "/workspace", "-cache-dir", "/cache", "-run", "/layers/run.toml", daemonApp()]),
      true,
    );
    return outputs;
  }

  it("runs the phases from the lifecycle image with the daemon's socket; the app image lands in the daemon, runs, and the next build reuses its layers", async () => {
    const started = performance.now();
    const creds = `${reg().credentials?.username ?? ""}:${reg().credentials?.password ?? ""}`;
    // pack saves its ephemeral lifecycle image into the daemon and pulls the builder and run images there
    const { layout, name: lifecycleImage } = await packLocalLifecycleLayout();
    await copyIntoDaemon(daemon(), `oci:${layout}:latest`, lifecycleImage);
    for (const ref of [builderRef, runRef]) await daemon().podman(["pull", "-q", "--tls-verify=false", "--creds", creds, ref], 300_000);
    const reader = new EngineReader(daemon());
    try {
      const run = await reader.image(runRef);
      const launchCache = `pack-cache-acme_app_latest-${randomBytes(6).toString("hex")}.launch`;
      const cache = launchCache.replace(/\.launch$/, ".build");
      const build = { layers: `pack-layers-${letters(10)}`, app: `pack-app-${letters(10)}`, cache, launchCache };
      for (const v of Object.values(build)) await daemon().podman(["volume", "create", v]);
      const out = await packDaemonBuild(lifecycleImage, build);
      expect(out.analyzer).toContain(`Image with name "${daemonApp()}" not found`);
      expect(out.exporter).toContain("Adding layer 'acme/node:runtime'");
      expect(out.exporter).toContain("Adding cache layer 'acme/node:tools'");
      const app = await reader.image(`${daemonApp()}:latest`);
      expect(out.exporter).toMatch(new RegExp(`\\*\\*\\* Images \\(${hex(app.Id).slice(0, 12)}\\):\\n\\s+${daemonApp().replaceAll(".", "\\.")}\\n`));
      const report = parse(await readFile(join(await volumePath(build.layers), "report.toml"), "utf8"));
      expect(at(report, "image", "image-id")).toBe(hex(app.Id));
      expect(at(report, "image", "digest")).toBeUndefined();
      expect(JSON.parse(app.Config.Labels?.["io.buildpacks.lifecycle.metadata"] ?? "{}")).toMatchObject({ runImage: { reference: hex(run.Id), image: runRef } });
      // nothing was pushed: the app is in the daemon only
      expect((await fetch(`http://${reg().host}/v2/acme/daemon-app/tags/list`, { headers: { authorization: `Basic ${Buffer.from(creds).toString("base64")}` } })).status).toBe(404);

      const printed = (await daemon().podman(["run", "--rm", "--network", "none", `${daemonApp()}:latest`, "--flag"])).stdout;
      expect(printed).toContain("entrypoint=/cnb/process/web");
      expect(printed).toContain("cwd=/workspace");
      expect(printed).toContain("platform-api=0.15");
      expect(printed).toContain("hello from pack");

      // the next build: new layers and app volumes, the same cache and launch-cache volumes
      const next = { ...build, layers: `pack-layers-${letters(10)}`, app: `pack-app-${letters(10)}` };
      for (const v of [next.layers, next.app]) await daemon().podman(["volume", "create", v]);
      const out2 = await packDaemonBuild(lifecycleImage, next);
      expect(out2.restorer).toContain('Restoring data for "acme/node:runtime" from cache');
      expect(out2.exporter).toContain("Reusing layer 'acme/node:runtime'");
      expect(out2.exporter).toContain("Reusing layer 'buildpacksio/lifecycle:launcher'");
      expect(out2.exporter).toContain("Reusing cache layer 'acme/node:tools'");
      expect((await reader.image(`${daemonApp()}:latest`)).Id).toBe(app.Id);
      console.log(`pack daemon replay: two builds and an app run ${((performance.now() - started) / 1000).toFixed(1)} s`);
    } finally {
      await reader.close();
    }
  });
});
