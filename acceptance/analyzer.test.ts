import { cpSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "smol-toml";
import { beforeAll, describe, expect, it } from "vitest";
import { buildRunImage, expectNoLeakedProcesses, faults, pushImage, type BuiltImage } from "../test/harness/index.js";
import { useFaultProxy } from "../test/harness/vitest/use-fault-proxy.js";
import { useRegistry } from "../test/harness/vitest/use-registry.js";
import { useTempDir } from "../test/harness/vitest/use-temp-dir.js";
import { layoutPathForReference } from "../src/image/layout-path.js";
import { at, buildTar, layerFromTar, pushDerivedImage, registryAuth, runToml, writeText } from "./helpers/fixtures.js";
import { runLifecycle, type RunOptions } from "./helpers/lifecycle.js";

expectNoLeakedProcesses();
const regA = useRegistry("plain"); // the output image's registry
const regB = useRegistry("plain"); // "elsewhere"
const regH = useRegistry("htpasswd"); // needs credentials
const regT = useRegistry("tls"); // TLS with a CA the lifecycle does not know
const proxy = useFaultProxy(regA);
const temp = useTempDir("analyzer-acceptance");

let runImage: BuiltImage;
let counter = 0;
const DIGEST_REF = /@sha256:[a-f0-9]{64}$/;

/** A fresh layers dir per test. */
function layersDir(): string {
  return join(temp(), `layers-${++counter}`);
}

function analyzed(layers: string): unknown {
  return parse(readFileSync(join(layers, "analyzed.toml"), "utf8"));
}

function analyzer(args: string[], options: RunOptions = {}) {
  return runLifecycle("analyzer", ["-no-color", ...args], options);
}

beforeAll(async () => {
  runImage = await buildRunImage(join(temp(), "run-layout"), {
    architecture: "arm64",
    variant: "v8",
    baseId: "io.acme.base",
    distro: { name: "ubuntu", version: "22.04" },
  });
  await Promise.all([
    pushImage(runImage, regA(), "acme/run:mirror"),
    pushImage(runImage, regB(), "acme/run:1"),
    pushImage(runImage, regH(), "acme/run:1"),
    pushImage(runImage, regT(), "acme/run:1"),
  ]);
});

describe("analyzer arguments (F11, F12, F15)", () => {
  it("needs exactly one image argument", async () => {
    for (const args of [[], ["a/b", "c/d"]]) {
      const r = await analyzer(args);
      expect(r.code).toBe(3);
      expect(r.stdout).toContain(`received ${args.length} arguments, but expected 1`);
    }
  });

  it("needs -run-image when there is no run metadata", async () => {
    const layers = layersDir();
    const missing = await analyzer(["-layers", layers, "-run", join(layers, "nope.toml"), `${regA().host}/acme/app`]);
    expect(missing.code).toBe(3);
    expect(missing.stdout).toContain("-run-image is required when there is no run metadata available");
    const empty = writeText(join(layers, "empty-run.toml"), "");
    const r = await analyzer(["-layers", layers, "-run", empty, `${regA().host}/acme/app`]);
    expect(r.code).toBe(3);
    expect(r.stdout).toContain("-run-image is required when there is no run metadata available");
  });

  it("refuses tags on another registry unless -daemon", async () => {
    const layers = layersDir();
    const args = ["-layers", layers, "-run-image", `${regA().host}/acme/run:mirror`, "-tag", `${regB().host}/acme/app:v1`, `${regA().host}/acme/app`];
    const r = await analyzer(args);
    expect(r.code).toBe(3);
    expect(r.stdout).toContain("writing to multiple registries is unsupported");
    const daemon = await analyzer(["-daemon", ...args]);
    expect(daemon.stdout).not.toContain("writing to multiple registries");
    expect(daemon.code).not.toBe(3);
  });
});

describe("run image mirror selection (F13, F14)", () => {
  it("chooses a readable mirror when the primary sits behind auth without credentials", async () => {
    const layers = layersDir();
    const run = runToml(join(layers, "run.toml"), [{ image: `${regH().host}/acme/run:1`, mirrors: [`${regB().host}/acme/run:1`] }]);
    const r = await analyzer(["-log-level", "debug", "-layers", layers, "-run", run, `${regA().host}/acme/app`]);
    expect(r.code, r.stdout).toBe(0);
    const md = analyzed(layers);
    expect(at(md, "run-image", "image")).toBe(`${regB().host}/acme/run:1`);
    expect(at(md, "run-image", "reference")).toMatch(new RegExp(`^${regB().host}/acme/run${DIGEST_REF.source}`));
    expect(r.stdout).toContain(`${regH().host}/acme/run:1 (registry ${regH().host}): not readable`);
    expect(r.stdout).toContain(`Selected run image '${regB().host}/acme/run:1'`);
  });

  it("prefers a mirror on the output image's registry over a readable primary elsewhere", async () => {
    const layers = layersDir();
    const run = runToml(join(layers, "run.toml"), [{ image: `${regB().host}/acme/run:1`, mirrors: [`${regA().host}/acme/run:mirror`] }]);
    const r = await analyzer(["-layers", layers, "-run", run, `${regA().host}/acme/app`]);
    expect(r.code, r.stdout).toBe(0);
    expect(at(analyzed(layers), "run-image", "image")).toBe(`${regA().host}/acme/run:mirror`);
  });

  it("falls back to the first readable candidate when the same-registry mirror answers 401", async () => {
    const layers = layersDir();
    proxy().addRule({ path: /\/v2\/acme\/run\/manifests\//, fault: faults.plainTextUnauthorized() });
    const run = runToml(join(layers, "run.toml"), [{ image: `${regB().host}/acme/run:1`, mirrors: [`${proxy().host}/acme/run:mirror`] }]);
    const r = await analyzer(["-layers", layers, "-run", run, `${proxy().host}/acme/app`]);
    expect(r.code, r.stdout).toBe(0);
    expect(at(analyzed(layers), "run-image", "image")).toBe(`${regB().host}/acme/run:1`);
    expect(proxy().count({ path: /\/acme\/run\/manifests\// })).toBeGreaterThan(0);
  });

  it("does not count a 404 as readable (unlike the Go lifecycle)", async () => {
    const layers = layersDir();
    const run = runToml(join(layers, "run.toml"), [{ image: `${regB().host}/acme/run:1`, mirrors: [`${regA().host}/acme/run:missing`] }]);
    const r = await analyzer(["-layers", layers, "-run", run, `${regA().host}/acme/app`]);
    expect(r.code, r.stdout).toBe(0);
    expect(at(analyzed(layers), "run-image", "image")).toBe(`${regB().host}/acme/run:1`);
  });

  it("fails with exit 3 when no candidate is readable", async () => {
    const layers = layersDir();
    const run = runToml(join(layers, "run.toml"), [{ image: `${regH().host}/acme/run:1`, mirrors: [`${regA().host}/acme/run:missing`] }]);
    const r = await analyzer(["-layers", layers, "-run", run, `${regA().host}/acme/app`]);
    expect(r.code).toBe(3);
    expect(r.stdout).toContain("failed to find accessible run image");
    expect(existsSync(join(layers, "analyzed.toml"))).toBe(false);
  });

  it("uses the credentials in CNB_REGISTRY_AUTH for the probes", async () => {
    const layers = layersDir();
    const run = runToml(join(layers, "run.toml"), [{ image: `${regH().host}/acme/run:1`, mirrors: [`${regB().host}/acme/run:1`] }]);
    const r = await analyzer(["-layers", layers, "-run", run, `${regA().host}/acme/app`], { env: { CNB_REGISTRY_AUTH: registryAuth(regH()) } });
    expect(r.code, r.stdout).toBe(0);
    expect(at(analyzed(layers), "run-image", "image")).toBe(`${regH().host}/acme/run:1`);
  });
});

describe("pack's invocation", () => {
  it("works with -run, -run-image and a run.toml ending in a duplicate and an empty entry", async () => {
    const layers = layersDir();
    const entry = { image: `${regA().host}/acme/run:mirror`, mirrors: [`${regB().host}/acme/run:1`] };
    const run = runToml(join(layers, "run.toml"), [entry, entry, { image: "" }]);
    const app = `${regA().host}/acme/app`;
    const explicit = await analyzer(["-run", run, "-run-image", `${regA().host}/acme/run:mirror`, "-layers", layers, app], {
      env: { CNB_REGISTRY_AUTH: "{}", CNB_USER_ID: "0", CNB_GROUP_ID: "0" },
      platformApi: "0.14",
    });
    expect(explicit.code, explicit.stdout).toBe(0);
    expect(at(analyzed(layers), "run-image", "image")).toBe(`${regA().host}/acme/run:mirror`);
    const layers2 = layersDir();
    const selected = await analyzer(["-run", run, "-layers", layers2, app], { env: { CNB_REGISTRY_AUTH: "{}" } });
    expect(selected.code, selected.stdout).toBe(0);
    expect(at(analyzed(layers2), "run-image", "image")).toBe(`${regA().host}/acme/run:mirror`);
  });
});

describe("registry access (F16, F10)", () => {
  it("exits 32 without push permission on the output image", async () => {
    const layers = layersDir();
    const args = ["-layers", layers, "-run-image", `${regB().host}/acme/run:1`, "-previous-image", `${regH().host}/acme/none`, `${regH().host}/acme/app`];
    const readDenied = await analyzer(args);
    expect(readDenied.code).toBe(32);
    expect(readDenied.stdout).toContain(`validating registry read access: failed to ensure registry read access to ${regH().host}/acme/none`);
    args.splice(4, 2, "-previous-image", `${regA().host}/acme/none`);
    const denied = await analyzer(args);
    expect(denied.code).toBe(32);
    expect(denied.stdout).toContain(`failed to initialize analyzer: validating registry write access: failed to ensure registry read/write access to ${regH().host}/acme/app`);
    const allowed = await analyzer(args, { env: { CNB_REGISTRY_AUTH: registryAuth(regH()) } });
    expect(allowed.code, allowed.stdout).toBe(0);
  });

  it("reaches a TLS registry with an unknown CA only when it is insecure, with flags appended to the env list", async () => {
    const layers = layersDir();
    const args = ["-layers", layers, "-run-image", `${regT().host}/acme/run:1`, `${regA().host}/acme/app`];
    const secure = await analyzer(args);
    expect(secure.code).toBe(32);
    const flag = await analyzer(["-insecure-registry", regT().host, ...args], { env: { CNB_INSECURE_REGISTRIES: "bogus.example.com" } });
    expect(flag.code, flag.stdout).toBe(0);
    expect(at(analyzed(layers), "run-image", "reference")).toMatch(DIGEST_REF);
    const env = await analyzer(args, { env: { CNB_INSECURE_REGISTRIES: `bogus.example.com,${regT().host}` } });
    expect(env.code, env.stdout).toBe(0);
    const old = await analyzer(["-insecure-registry", regT().host, ...args], { platformApi: "0.12" });
    expect(old.code).toBe(2);
  });
});

describe("credentials (F76, F77)", () => {
  it("rejects invalid CNB_REGISTRY_AUTH JSON: exit 1, or 3 while selecting a run image", async () => {
    const layers = layersDir();
    const bad = { CNB_REGISTRY_AUTH: '{"reg":"Basic c2VjcmV0"' };
    const r = await analyzer(["-layers", layers, "-run-image", `${regA().host}/acme/run:mirror`, `${regA().host}/acme/app`], { env: bad });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("failed to resolve keychain: failed to parse CNB_REGISTRY_AUTH value");
    expect(r.stdout).not.toContain("c2VjcmV0");
    const run = runToml(join(layers, "run.toml"), [{ image: `${regA().host}/acme/run:mirror` }]);
    const selecting = await analyzer(["-layers", layers, "-run", run, `${regA().host}/acme/app`], { env: bad });
    expect(selecting.code).toBe(3);
  });

  it("reads credentials from $HOME/.docker/config.json like kpack provides them", async () => {
    const layers = layersDir();
    const home = join(temp(), `home-${counter}`);
    const creds = regH().credentials;
    if (!creds) throw new Error("fixture");
    writeText(join(home, ".docker", "config.json"), JSON.stringify({ auths: { [regH().host]: { auth: Buffer.from(`${creds.username}:${creds.password}`).toString("base64") } } }));
    const args = ["-layers=" + layers, `-run-image=${regH().host}/acme/run:1`, `${regH().host}/acme/app`];
    const without = await analyzer(args);
    expect(without.code).toBe(32);
    const r = await analyzer(args, { env: { HOME: home }, platformApi: "0.9" });
    expect(r.code, r.stdout).toBe(0);
    expect(String(at(analyzed(layers), "run-image", "reference"))).toMatch(DIGEST_REF);
  });
});

describe("previous image (F17, F18, F19, F21)", () => {
  const label = (extra: Record<string, unknown> = {}) =>
    JSON.stringify({
      app: [{ sha: `sha256:${"1".repeat(64)}` }],
      buildpacks: [
        {
          key: "acme/node",
          version: "1.2.3",
          layers: { node: { sha: `sha256:${"2".repeat(64)}`, data: { version: "20.11.0" }, build: false, launch: true, cache: true } },
          store: { metadata: { counter: 3 } },
        },
      ],
      config: { sha: `sha256:${"3".repeat(64)}` },
      launcher: { sha: `sha256:${"4".repeat(64)}` },
      "process-types": { sha: `sha256:${"5".repeat(64)}` },
      runImage: { topLayer: `sha256:${"6".repeat(64)}`, reference: `${regA().host}/acme/run@sha256:${"7".repeat(64)}`, image: "acme/run:1", mirrors: ["m.io/acme/run:1"] },
      stack: { runImage: { image: "acme/run:1", mirrors: ["m.io/acme/run:1"] } },
      ...extra,
    });

  it("records an empty reference and metadata when the previous image does not exist", async () => {
    const layers = layersDir();
    const r = await analyzer(["-layers", layers, "-run-image", `${regA().host}/acme/run:mirror`, `${regA().host}/acme/none`]);
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toContain(`Image with name "${regA().host}/acme/none" not found`);
    const md = analyzed(layers);
    expect(at(md, "image", "reference")).toBe("");
    expect(at(md, "metadata", "buildpacks") ?? []).toEqual([]);
  });

  it("records the previous image's digest and its label with TOML key names", async () => {
    const layers = layersDir();
    const digest = await pushDerivedImage(runImage.layoutDir, runImage.tag, regA(), "acme/prev:1", { labels: { "io.buildpacks.lifecycle.metadata": label() } });
    const r = await analyzer(["-layers", layers, "-run-image", `${regA().host}/acme/run:mirror`, `${regA().host}/acme/prev:1`]);
    expect(r.code, r.stdout).toBe(0);
    const md = analyzed(layers);
    expect(at(md, "image", "reference")).toBe(`${regA().host}/acme/prev@${digest}`);
    expect(at(md, "metadata", "app")).toEqual([{ sha: `sha256:${"1".repeat(64)}` }]);
    expect(at(md, "metadata", "run-image", "top-layer")).toBe(`sha256:${"6".repeat(64)}`);
    expect(at(md, "metadata", "run-image", "mirrors")).toEqual(["m.io/acme/run:1"]);
    expect(at(md, "metadata", "stack", "run-image", "image")).toBe("acme/run:1");
    expect(at(md, "metadata", "process-types", "sha")).toBe(`sha256:${"5".repeat(64)}`);
    const node = at(md, "metadata", "buildpacks", 0, "layers", "node");
    expect(at(node, "metadata")).toEqual({ version: "20.11.0" });
    expect(at(node, "data")).toBeUndefined();
    expect(at(md, "metadata", "buildpacks", 0, "store", "metadata", "counter")).toBe(3);
  });

  it("ignores a previous image whose label is not valid JSON", async () => {
    const layers = layersDir();
    await pushDerivedImage(runImage.layoutDir, runImage.tag, regA(), "acme/prev:bad", { labels: { "io.buildpacks.lifecycle.metadata": "{not json" } });
    const r = await analyzer(["-layers", layers, "-run-image", `${regA().host}/acme/run:mirror`, `${regA().host}/acme/prev:bad`]);
    expect(r.code, r.stdout).toBe(0);
    // Go goes on silently with empty metadata (image.DecodeLabel's error is dropped; no warning)
    expect(r.stdout).not.toContain("Warning: ");
    expect(r.stdout).not.toContain("corrupt");
    const md = analyzed(layers);
    expect(at(md, "image", "reference")).toBe("");
    expect(at(md, "metadata", "buildpacks") ?? []).toEqual([]);
  });

  it("restores the previous image's SBOM layer unless -skip-layers", async () => {
    const layers = layersDir();
    const sbomTar = await buildTar([
      { path: layers, dir: true },
      { path: `${layers}/sbom`, dir: true },
      { path: `${layers}/sbom/launch`, dir: true },
      { path: `${layers}/sbom/launch/acme_node`, dir: true },
      { path: `${layers}/sbom/launch/acme_node/sbom.cdx.json`, content: '{"bomFormat":"CycloneDX"}' },
    ]);
    const layer = layerFromTar(join(temp(), "blobs"), `sbom-${counter}`, sbomTar);
    await pushDerivedImage(runImage.layoutDir, runImage.tag, regA(), `acme/sbom:${counter}`, {
      layers: [layer],
      labels: { "io.buildpacks.lifecycle.metadata": label({ sbom: { sha: layer.diffId } }) },
    });
    const app = `${regA().host}/acme/sbom:${counter}`;
    const skipped = await analyzer(["-skip-layers", "-layers", layers, "-run-image", `${regA().host}/acme/run:mirror`, app]);
    expect(skipped.code, skipped.stdout).toBe(0);
    expect(existsSync(join(layers, "sbom"))).toBe(false);
    const r = await analyzer(["-layers", layers, "-run-image", `${regA().host}/acme/run:mirror`, app]);
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toContain("Restoring data for SBOM from previous image");
    expect(readFileSync(join(layers, "sbom/launch/acme_node/sbom.cdx.json"), "utf8")).toContain("CycloneDX");
  });
});

describe("run image record (F20, F22)", () => {
  it("records the digest reference, the name as given and the target", async () => {
    const layers = layersDir();
    const r = await analyzer(["-layers", layers, "-run-image", `${regA().host}/acme/run:mirror`, `${regA().host}/acme/app`], { platformApi: "0.12" });
    expect(r.code, r.stdout).toBe(0);
    const run = at(analyzed(layers), "run-image");
    expect(at(run, "reference")).toMatch(new RegExp(`^${regA().host}/acme/run${DIGEST_REF.source}`));
    expect(at(run, "image")).toBe(`${regA().host}/acme/run:mirror`);
    expect(at(run, "target")).toEqual({ id: "io.acme.base", os: "linux", arch: "arm64", "arch-variant": "v8", distro: { name: "ubuntu", version: "22.04" } });
  });

  it("uses stack.toml on Platform API 0.11 and records no image or target", async () => {
    const layers = layersDir();
    const stack = writeText(join(layers, "stack.toml"), `[run-image]\n  image = "${regB().host}/acme/run:1"\n  mirrors = ["${regA().host}/acme/run:mirror"]\n`);
    const r = await analyzer(["-layers", layers, "-stack", stack, `${regA().host}/acme/app`], { platformApi: "0.11" });
    expect(r.code, r.stdout).toBe(0);
    const run = at(analyzed(layers), "run-image");
    expect(at(run, "reference")).toMatch(new RegExp(`^${regA().host}/acme/run${DIGEST_REF.source}`));
    expect(at(run, "image")).toBeUndefined();
    expect(at(run, "target")).toBeUndefined();
  });
});

describe("OCI layout mode (F23)", () => {
  it("is refused without CNB_EXPERIMENTAL_MODE and works with warn", async () => {
    const layers = layersDir();
    const layoutDir = join(temp(), "layout-repo");
    const runRef = `${regA().host}/acme/run:layout`;
    // umoci refuses paths with ':', so build elsewhere and copy into <layout-dir>/<registry>/<repo>/<tag>
    const built = await buildRunImage(join(temp(), "layout-src"), { architecture: "amd64" });
    cpSync(built.layoutDir, layoutPathForReference(layoutDir, runRef), { recursive: true });
    const args = ["-layout", "-layout-dir", layoutDir, "-layers", layers, "-run-image", runRef, `${regA().host}/acme/app`];
    const refused = await analyzer(args);
    expect(refused.code).toBe(1);
    const r = await analyzer(args, { env: { CNB_EXPERIMENTAL_MODE: "warn" } });
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toContain("Warning: Platform requested experimental feature 'export to OCI layout format'");
    const md = analyzed(layers);
    expect(at(md, "run-image", "reference")).toMatch(new RegExp(`^${layoutPathForReference(layoutDir, runRef)}${DIGEST_REF.source}`));
    expect(at(md, "run-image", "target", "os")).toBe("linux");
    expect(at(md, "image", "reference")).toBe("");
  });
});
