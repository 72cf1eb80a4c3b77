// `npm run image` as a user runs it: the lifecycle image built from the release tarball (made by
// the global setup with `npm run release`) and Debian's packages, pushed, pulled and run by
// podman; reproducible; bad input gives one-line errors and leaves no layout behind.
import { mkdir, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { expectNoLeakedProcesses, skopeoInspectConfig, skopeoInspectRaw, usePodmanService } from "../test/harness/index.js";
import { useRegistry } from "../test/harness/vitest/use-registry.js";
import { useTempDir } from "../test/harness/vitest/use-temp-dir.js";
import { writeSyntheticInputs, type SyntheticInputs } from "../test/tools/lifecycle-image/fixtures.js";
import { EngineReader } from "./helpers/daemon.js";
import { printedDigest, runImageCommand, writeTestLauncher, type CommandRun } from "./helpers/lifecycle-image.js";
import { usePodman } from "./helpers/podman.js";

expectNoLeakedProcesses();
const plain = useRegistry("plain");
const htpasswd = useRegistry("htpasswd");
const temp = useTempDir("lifecycle-image");
const podman = usePodman(() => ({ registries: [plain()] }));
const daemon = usePodmanService();

const pkg = JSON.parse(await readFile(join(import.meta.dirname, "..", "package.json"), "utf8")) as { version: string };
let launcher: string;
let first: CommandRun;
let synthetic: SyntheticInputs;

beforeAll(async () => {
  launcher = writeTestLauncher(temp());
  // apt's resolution with the global setup's cache (the .debs are there: nothing is downloaded)
  first = await runImageCommand(
    ["--launcher", launcher, "--release", inject("lifecycleRelease"), "--out", join(temp(), "a", "image"), "--push", `${plain().host}/cnb/lifecycle:${pkg.version}`],
    { LIFECYCLE_IMAGE_CACHE: inject("lifecycleImageCache") },
  );
  synthetic = await writeSyntheticInputs(join(temp(), "synthetic"));
});

describe("npm run image -- --launcher <file> --push <ref>", () => {
  it("builds the Go lifecycle image's layout with this project's image code and pushes it", async () => {
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^debian packages: gcc-12-base=\S+ libc6=\S+ libgcc-s1=\S+ libstdc\+\+6=\S+ \(/m);
    expect(first.stdout).not.toContain("downloaded");
    const digest = printedDigest(first.stdout);
    expect(first.stdout).toContain(`pushed ${plain().host}/cnb/lifecycle:${pkg.version} (${digest})`);

    const index = JSON.parse(await readFile(join(temp(), "a", "image", "index.json"), "utf8")) as { manifests: { digest: string; annotations: Record<string, string> }[] };
    expect(index.manifests).toEqual([expect.objectContaining({ digest, annotations: { "org.opencontainers.image.ref.name": pkg.version } })]);
    const raw = await skopeoInspectRaw(plain(), `cnb/lifecycle:${pkg.version}`);
    expect(raw.manifest?.layers).toHaveLength(2);
    const [base, lifecycle] = raw.manifest?.layers ?? [];
    // the base is the loader's closure of glibc and libstdc++, not a distribution
    expect(base?.size).toBeLessThan(3_000_000);
    expect(lifecycle?.size).toBeGreaterThan(30_000_000);
    const config = await skopeoInspectConfig(plain(), `cnb/lifecycle:${pkg.version}`);
    expect(config.config?.WorkingDir).toBe("/layers");
    expect(config.config?.Labels?.["io.buildpacks.lifecycle.version"]).toBe(pkg.version);
    expect(JSON.parse(config.config?.Labels?.["io.buildpacks.lifecycle.apis"] ?? "{}")).toMatchObject({ platform: { supported: expect.arrayContaining(["0.15"]) as unknown } });
    const total = (raw.manifest?.layers ?? []).reduce((n, l) => n + l.size, 0);
    console.log(`lifecycle image: base ${base?.size} B, lifecycle ${lifecycle?.size} B, layers ${(total / 1e6).toFixed(1)} MB; build with cached .debs ${first.seconds.toFixed(1)} s`);
  });

  it("runs on podman without Node.js: under pack's user name root and as a non-root uid, every phase link", async () => {
    const pm = podman();
    const image = `${plain().host}/cnb/lifecycle:${pkg.version}`;
    await pm.run(["pull", "-q", image]);
    const asRoot = await pm.run(["run", "--rm", "--user", "root", image, "/cnb/lifecycle/lifecycle", "-version"]);
    expect(asRoot.stdout.trim()).toMatch(new RegExp(`^${pkg.version.replaceAll(".", "\\.")}\\+[0-9a-f]+$`));
    for (const phase of ["analyzer", "restorer", "exporter", "rebaser"]) {
      const r = await pm.run(["run", "--rm", "--user", "1000:1000", "-e", "CNB_PLATFORM_API=0.15", image, `/cnb/lifecycle/${phase}`, "-version"]);
      expect(r.stdout.trim(), phase).toBe(asRoot.stdout.trim());
    }
    // nothing else to run: no shell, no node
    expect((await pm.attempt(["run", "--rm", image, "/bin/sh", "-c", "true"])).code).not.toBe(0);
  });

  it("gives the same digest from the same release, .debs and launcher (apt cache or --debs, any output directory)", async () => {
    const again = await runImageCommand(["--launcher", launcher, "--release", inject("lifecycleRelease"), "--debs", inject("lifecycleDebs"), "--out", join(temp(), "b", "image")]);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(printedDigest(again.stdout)).toBe(printedDigest(first.stdout));
    console.log(`lifecycle image: offline build from --debs ${again.seconds.toFixed(1)} s`);
  });
});

describe("npm run image -- --load <name>", () => {
  it("loads the image into the Docker daemon at DOCKER_HOST under every name; labels through the API; a phase link runs from it", async () => {
    const out = join(temp(), "loaded", "image");
    const names = [`localhost/cnb/lifecycle-ts:${pkg.version}`, "localhost/cnb/lifecycle-ts:latest"];
    const run = await runImageCommand(
      ["--launcher", launcher, "--release", inject("lifecycleRelease"), "--debs", inject("lifecycleDebs"), "--out", out, ...names.flatMap((n) => ["--load", n])],
      { DOCKER_HOST: daemon().dockerHost },
    );
    expect(run.code, run.stdout + run.stderr).toBe(0);
    for (const name of names) {
      expect(run.stdout).toMatch(new RegExp(`loaded ${name.replaceAll(".", "\\.")} into the Docker daemon at unix://\\S+ \\(image [0-9a-f]{12}\\)`));
    }
    // the daemon's image is the layout's: its ID is the config digest
    const index = JSON.parse(await readFile(join(out, "index.json"), "utf8")) as { manifests: { digest: string }[] };
    const manifest = JSON.parse(await readFile(join(out, "blobs", "sha256", (index.manifests[0]?.digest ?? "").slice(7)), "utf8")) as { config: { digest: string } };
    const reader = new EngineReader(daemon());
    try {
      for (const name of names) {
        const image = await reader.image(name);
        expect(image.Id).toBe(manifest.config.digest);
        expect(image.Config.WorkingDir).toBe("/layers");
        expect(image.Config.Labels?.["io.buildpacks.lifecycle.version"]).toBe(pkg.version);
        expect(JSON.parse(image.Config.Labels?.["io.buildpacks.lifecycle.apis"] ?? "{}")).toMatchObject({ platform: { supported: expect.arrayContaining(["0.15"]) as unknown } });
      }
    } finally {
      await reader.close();
    }
    const version = await daemon().podman(["run", "--rm", "--user", "root", names[0] ?? "", "/cnb/lifecycle/lifecycle", "-version"]);
    expect(version.stdout.trim()).toMatch(new RegExp(`^${pkg.version.replaceAll(".", "\\.")}\\+[0-9a-f]+$`));
    const exporter = await daemon().podman(["run", "--rm", "--user", "1000:1000", "-e", "CNB_PLATFORM_API=0.15", names[1] ?? "", "/cnb/lifecycle/exporter", "-version"]);
    expect(exporter.stdout.trim()).toBe(version.stdout.trim());
  });
});

describe("npm run image with bad input", () => {
  /** Runs the command into a fresh directory; returns the run and what that directory holds afterwards. */
  async function failing(name: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ run: CommandRun; left: string[] }> {
    const parent = join(temp(), `bad-${name}`);
    await mkdir(parent);
    const run = await runImageCommand([...args, "--out", join(parent, "image")], env);
    return { run, left: await readdir(parent) };
  }

  it("refuses to build without a launcher (exit 2, usage)", async () => {
    const { run, left } = await failing("no-launcher", ["--release", synthetic.release]);
    expect(run.code).toBe(2);
    expect(run.stderr.split("\n")[0]).toMatch(/^error: --launcher is required: the exporter copies \/cnb\/lifecycle\/launcher into every app image/);
    expect(run.stderr).toContain("usage: npm run image -- --launcher <file>");
    expect(left).toEqual([]);
  });

  it("a launcher that is not there, an unreadable tarball: exit 1, one line, nothing written", async () => {
    const missing = await failing("missing-launcher", ["--launcher", join(temp(), "nope"), "--release", synthetic.release, "--debs", synthetic.debs]);
    expect(missing.run.code).toBe(1);
    expect(missing.run.stderr).toMatch(/^error: cannot use the launcher \S+nope: ENOENT: no such file or directory, stat '\S+'\n$/);
    expect(missing.left).toEqual([]);

    const tarball = await failing("tarball", ["--launcher", synthetic.launcher, "--release", join(temp(), "missing.tgz"), "--debs", synthetic.debs]);
    expect(tarball.run.code).toBe(1);
    expect(tarball.run.stderr).toMatch(/^error: cannot read the release tarball \S+missing\.tgz: ENOENT: no such file or directory, open '\S+'\n$/);
    expect(tarball.left).toEqual([]);
  });

  it("a daemon that is not there: exit 1, one line naming it, no layout", async () => {
    const socket = join(temp(), "no-daemon.sock");
    const { run, left } = await failing("load", ["--launcher", synthetic.launcher, "--release", synthetic.release, "--debs", synthetic.debs, "--load", "localhost/cnb/lifecycle:0.1.0"], { DOCKER_HOST: `unix://${socket}` });
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`error: cannot load into the Docker daemon at unix://${socket}: cannot connect to the Docker daemon at unix://${socket}: no such file or directory\n`);
    expect(left).toEqual([]);
  });

  it("a --load name with a digest: exit 2 before anything is built", async () => {
    const { run, left } = await failing("load-digest", ["--launcher", synthetic.launcher, "--release", synthetic.release, "--debs", synthetic.debs, "--load", `cnb/lifecycle@sha256:${"a".repeat(64)}`]);
    expect(run.code).toBe(2);
    expect(run.stderr.split("\n")[0]).toMatch(/^error: invalid --load name "cnb\/lifecycle@sha256:a+": cannot tag an image with the digest reference/);
    expect(left).toEqual([]);
  });

  it("a push the registry refuses: exit 1, the registry's answer, no layout", async () => {
    const { run, left } = await failing("push", ["--launcher", synthetic.launcher, "--release", synthetic.release, "--debs", synthetic.debs, "--push", `${htpasswd().host}/cnb/lifecycle:0.1.0`]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(new RegExp(`^error: cannot push to ${htpasswd().host}/cnb/lifecycle:0\\.1\\.0: .*401.*\\n$`));
    expect(left).toEqual([]);
  });
});
