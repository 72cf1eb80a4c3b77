import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "smol-toml";
import { beforeAll, describe, expect, it } from "vitest";
import { buildRunImage, expectNoLeakedProcesses, pushImage, skopeoInspectConfig, type BuiltImage } from "../test/harness/index.js";
import { useFaultProxy } from "../test/harness/vitest/use-fault-proxy.js";
import { useRegistry } from "../test/harness/vitest/use-registry.js";
import { useTempDir } from "../test/harness/vitest/use-temp-dir.js";
import { at } from "./helpers/fixtures.js";
import { runLifecycle, type RunOptions } from "./helpers/lifecycle.js";
import { podmanRun } from "./helpers/podman.js";
import { createWorkspace, writeBuildOutput, type BuildSpec, type Workspace } from "./helpers/workspace.js";

expectNoLeakedProcesses();
const reg = useRegistry("plain");
const proxy = useFaultProxy(reg);
const temp = useTempDir("full-cycle");

let runImage: BuiltImage;

/** A launcher that shows how it was started: argv[0], working dir and the lifecycle env. */
const TEST_LAUNCHER = `#!/bin/sh
echo "entrypoint=$0"
echo "cwd=$(pwd)"
echo "platform-api=$CNB_PLATFORM_API"
echo "app-dir=$CNB_APP_DIR"
echo "path=$PATH"
echo "args=$*"
cat "$CNB_APP_DIR/message.txt"
`;

function spec(message: string, modules: string): BuildSpec {
  return {
    group: [{ id: "acme/node", version: "1.0.0" }],
    layers: [
      { bp: "acme/node", name: "runtime", types: { launch: true, cache: true }, metadata: { version: "20" }, files: { "bin/node": "runtime" } },
      { bp: "acme/node", name: "modules", types: { launch: true, cache: true }, metadata: { digest: modules }, files: { "lib/modules.txt": modules } },
      { bp: "acme/node", name: "tools", types: { build: true, cache: true }, files: { "tool.txt": "tool" } },
    ],
    app: { "static/index.html": "<html/>", "message.txt": message },
    slices: [["static/*"]],
    processes: [{ type: "web", command: ["node", "server.js"], default: true }],
    defaultProcess: "web",
  };
}

async function phase(bin: "analyzer" | "restorer" | "exporter", args: string[], options: RunOptions) {
  const r = await runLifecycle(bin, ["-no-color", ...args], options);
  expect(r.code, `${bin}: ${r.stdout}`).toBe(0);
  return r;
}

/** analyze → restore → build (simulated: the builder rewrites layers) → export. */
async function build(ws: Workspace, image: string, cache: string[], api: string, buildSpec: BuildSpec) {
  const options: RunOptions = { platformApi: api, env: { CNB_USER_ID: "0", CNB_GROUP_ID: "0" } };
  const cacheImage = cache[0] === "-cache-image" ? cache : [];
  await phase("analyzer", ["-layers", ws.layers, "-run", ws.run, ...cacheImage, image], options);
  const restored = await phase("restorer", ["-layers", ws.layers, ...cache], options);
  writeBuildOutput(ws, buildSpec);
  for (const [rel, content] of Object.entries(buildSpec.app)) writeFileSync(join(ws.app, rel), content);
  const exported = await phase("exporter", ["-layers", ws.layers, "-app", ws.app, "-launcher", ws.launcher, "-run", ws.run, ...cache, image], options);
  return { restored, exported };
}

beforeAll(async () => {
  runImage = await buildRunImage(join(temp(), "run-layout"), { env: { PATH: "/bin:/usr/bin" } });
  await pushImage(runImage, reg(), "acme/run:1");
});

describe.each(["0.12", "0.13", "0.14", "0.15"])("full cycle on Platform API %s", (api) => {
  for (const cacheKind of ["volume", "image"] as const) {
    it(`rebuilds with a ${cacheKind} cache, reusing unchanged layers and uploading only changed ones`, async () => {
      const host = proxy().host;
      const tag = `${api.replace(".", "-")}-${cacheKind}`;
      const ws = createWorkspace(join(temp(), tag), spec("first build", "modules v1"), `[[images]]\n  image = "${host}/acme/run:1"\n`);
      writeFileSync(ws.launcher, TEST_LAUNCHER);
      chmodSync(ws.launcher, 0o755);
      const image = `${host}/acme/app-${tag}:latest`;
      const cache = cacheKind === "volume" ? ["-cache-dir", ws.cache] : ["-cache-image", `${host}/acme/cache-${tag}:latest`];

      const first = await build(ws, image, cache, api, spec("first build", "modules v1"));
      expect(first.exported.stdout).toContain("Adding layer 'acme/node:runtime'");
      expect(first.exported.stdout).toContain("Adding cache layer 'acme/node:tools'");

      proxy().resetCounters();
      const second = await build(ws, image, cache, api, spec("second build", "modules v2"));
      expect(second.restored.stdout).toContain('Restoring data for "acme/node:runtime" from cache');
      const out = second.exported.stdout;
      expect(out).toContain("Reusing layer 'acme/node:runtime'");
      expect(out).toContain("Adding layer 'acme/node:modules'");
      expect(out).toContain("Reused 1/2 app layer(s)");
      expect(out).toContain("Added 1/2 app layer(s)");
      expect(out).toContain("Reusing layer 'buildpacksio/lifecycle:launcher'");
      expect(out).toContain("Reusing cache layer 'acme/node:runtime'");
      expect(out).toContain("Reusing cache layer 'acme/node:tools'");
      // uploads: the changed buildpack layer, the changed app layer, the config (and the cache image's config/label)
      const uploads = proxy().requests({ method: "PUT", path: /\/blobs\/uploads\// }).length;
      expect(uploads).toBeGreaterThanOrEqual(3);
      expect(uploads).toBeLessThanOrEqual(cacheKind === "image" ? 5 : 3);
      const report = parse(readFileSync(join(ws.layers, "report.toml"), "utf8"));
      const config = await skopeoInspectConfig(proxy(), `acme/app-${tag}:latest`);
      expect(config.config?.Env).toContain(`CNB_PLATFORM_API=${api}`);
      expect(String(at(report, "image", "digest"))).toMatch(/^sha256:/);
    });
  }
});

describe("the exported image runs", () => {
  it("starts the default process through the launcher with the app dir as working dir", async () => {
    const ws = createWorkspace(join(temp(), "podman"), spec("hello from the app", "m"), `[[images]]\n  image = "${reg().host}/acme/run:1"\n`);
    writeFileSync(ws.launcher, TEST_LAUNCHER);
    chmodSync(ws.launcher, 0o755);
    chmodSync(temp(), 0o755);
    chmodSync(ws.root, 0o755);
    const image = `${reg().host}/acme/runnable:1`;
    await build(ws, image, ["-cache-dir", ws.cache], "0.15", spec("hello from the app", "m"));
    const { stdout } = await podmanRun(image, ["--flag"]);
    expect(stdout).toContain("entrypoint=/cnb/process/web");
    expect(stdout).toContain(`cwd=${ws.app}`);
    expect(stdout).toContain("platform-api=0.15");
    expect(stdout).toContain(`app-dir=${ws.app}`);
    expect(stdout).toContain("path=/cnb/process:/cnb/lifecycle:/bin:/usr/bin");
    expect(stdout).toContain("args=--flag");
    expect(stdout).toContain("hello from the app");
  });
});
