// The demo (`npm run demo`): with no registry and no network, builds a small run image, a sample
// build, then runs analyzer → restorer → exporter into an OCI layout and rebases the result onto a
// newer run image, printing each phase's output, the final digest and report. Run it again to see
// every layer reused. Everything lives in ./.demo (delete it to start over; CNB_DEMO_DIR moves it,
// LIFECYCLE_DIR picks another lifecycle build such as the release executable).
import { spawnSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { FileLayer } from "../src/image/file-layer.js";
import { layoutPathForReference } from "../src/image/layout-path.js";
import { writeLayoutImage } from "../src/image/layout-writer.js";
import { MutableImage } from "../src/image/mutable-image.js";
import { hostArchitecture } from "../src/image/platform.js";
import { staticLayerSource } from "../src/layers/layer-source.js";
import { buildLayerBlob } from "../src/layers/pipeline.js";
import type { TarEntry } from "../src/layers/tar-entry.js";
import { MediaType } from "../src/oci/media-types.js";

const ROOT = resolve(process.env.CNB_DEMO_DIR ?? ".demo");
const LIFECYCLE = resolve(process.env.LIFECYCLE_DIR ?? "dist/lifecycle");
const LAYOUT_DIR = join(ROOT, "layout-repo");
const RUN_IMAGE = "demo.local/cnb/run:latest";
const APP_IMAGE = "demo.local/cnb/app:latest";
const PLATFORM_API = "0.15";

const dir = (name: string, mode = 0o755): TarEntry => ({ name, type: "dir", mode, uid: 0, gid: 0 });
const file = (name: string, content: string, mode = 0o644): TarEntry => ({ name, type: "file", mode, uid: 0, gid: 0, size: Buffer.byteLength(content), content: Buffer.from(content) });

/** The run image's base layer: busybox when Debian's busybox-static is installed, else a minimal tree. */
function baseEntries(): TarEntry[] {
  const entries = [dir("/bin"), dir("/etc"), dir("/tmp", 0o1777), file("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\ncnb:x:1000:1000::/home/cnb:/bin/sh\n"), file("/etc/group", "root:x:0:\ncnb:x:1000:\n")];
  const busybox = "/bin/busybox";
  if (existsSync(busybox) && !lstatSync(busybox).isSymbolicLink()) {
    const size = lstatSync(busybox).size;
    entries.push({ name: "/bin/busybox", type: "file", mode: 0o755, uid: 0, gid: 0, size, source: busybox });
    entries.push({ name: "/bin/sh", type: "symlink", mode: 0o777, uid: 0, gid: 0, linkname: "busybox" });
  } else {
    entries.push(file("/bin/README", "no busybox on the build machine: a minimal run image\n"));
  }
  return entries;
}

/** Writes run image `version` as `demo.local/cnb/run:latest` in the layout dir. */
async function writeRunImage(version: string, tmp: string): Promise<void> {
  const image = MutableImage.scratch("linux", hostArchitecture());
  const layers = [baseEntries(), [dir("/etc"), file("/etc/os-release", `NAME="CNB demo"\nVERSION_ID="${version}"\n`)]];
  for (const [i, entries] of layers.entries()) {
    const blob = await buildLayerBlob(staticLayerSource(entries), tmp);
    image.addLayer(new FileLayer(blob.path, blob.digest, blob.diffId, blob.size, MediaType.OciLayerGzip), { created: "1980-01-01T00:00:01Z", created_by: `demo run image layer ${i + 1}` });
  }
  const config = image.editableConfig;
  config.created = "1980-01-01T00:00:01Z";
  config.config = {
    User: "1000:1000",
    Env: ["PATH=/usr/local/bin:/usr/bin:/bin"],
    Labels: {
      "io.buildpacks.base.id": "io.buildpacks.demo",
      "io.buildpacks.base.distro.name": "demo",
      // same distro release: a patched run image, which is what a rebase is for
      "io.buildpacks.base.distro.version": "1",
      "io.buildpacks.base.released": version,
    },
  };
  await writeLayoutImage(image, layoutPathForReference(LAYOUT_DIR, RUN_IMAGE), { refName: "latest", exclusive: true });
}

/** What the detector would leave: the group of buildpacks that will build the app. */
function writeDetectOutput(layers: string): void {
  mkdirSync(layers, { recursive: true });
  writeFileSync(join(layers, "group.toml"), '[[group]]\n  id = "demo/hello"\n  version = "1.0.0"\n  api = "0.10"\n');
}

/** What a buildpack would leave after the build phase (the builder is not part of this lifecycle). */
function writeBuildOutput(layers: string, app: string): void {
  const put = (path: string, text: string) => {
    mkdirSync(join(path, ".."), { recursive: true });
    writeFileSync(path, text);
  };
  put(join(layers, "config", "metadata.toml"), [
    'buildpack-default-process-type = "web"',
    "[[buildpacks]]", '  id = "demo/hello"', '  version = "1.0.0"',
    "[[processes]]", '  type = "web"', '  command = ["/bin/sh", "-c", "cat /workspace/index.html"]', '  buildpack-id = "demo/hello"', "  default = true",
    "",
  ].join("\n"));
  put(join(layers, "demo_hello", "runtime.toml"), '[types]\n  launch = true\n  cache = true\n[metadata]\n  version = "1.0"\n');
  put(join(layers, "demo_hello", "runtime", "bin", "hello"), "#!/bin/sh\necho hello from the runtime layer\n");
  put(join(layers, "demo_hello", "deps.toml"), "[types]\n  build = true\n  cache = true\n");
  put(join(layers, "demo_hello", "deps", "downloaded.txt"), "a dependency that only the build needs\n");
  put(join(app, "index.html"), "<h1>Hello from the CNB lifecycle demo</h1>\n");
  put(join(app, "static", "style.css"), "h1 { color: teal }\n");
}

function phase(title: string, binary: string, args: string[]): void {
  console.log(`\n===> ${title.toUpperCase()}  (${binary} ${args.join(" ")})`);
  const r = spawnSync(join(LIFECYCLE, binary), args, {
    stdio: "inherit",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", CNB_PLATFORM_API: PLATFORM_API, CNB_EXPERIMENTAL_MODE: "quiet" },
  });
  if (r.status !== 0) {
    console.error(`\n${binary} exited with ${r.status ?? "a signal"}`);
    process.exit(r.status ?? 1);
  }
}

async function main(): Promise<void> {
  if (!existsSync(join(LIFECYCLE, "lifecycle"))) throw new Error("dist/lifecycle is missing: run `npm run build` first");
  const second = existsSync(join(ROOT, "layers"));
  const layers = join(ROOT, "layers");
  const app = join(ROOT, "workspace");
  const cache = join(ROOT, "cache");
  const launcher = join(ROOT, "launcher");
  mkdirSync(cache, { recursive: true });
  const tmp = await mkdtemp(join(tmpdir(), "cnb-demo-"));
  try {
    console.log(second ? "Second run: the build should reuse every layer." : `First run: state goes to ${ROOT}.`);
    await writeRunImage("1.0.0", tmp);
    writeFileSync(join(ROOT, "run.toml"), `[[images]]\n  image = "${RUN_IMAGE}"\n`);
    writeFileSync(launcher, "#!/bin/sh\nexec \"$@\"\n", { mode: 0o755 });
    const layout = ["-layout", "-layout-dir", LAYOUT_DIR];
    phase("analyze", "analyzer", [...layout, "-layers", layers, "-run", join(ROOT, "run.toml"), APP_IMAGE]);
    console.log("\n===> DETECT  (simulated: writing group.toml)");
    writeDetectOutput(layers);
    phase("restore", "restorer", [...layout, "-layers", layers, "-cache-dir", cache]);
    console.log("\n===> BUILD  (simulated: writing the buildpack's layers and process types)");
    writeBuildOutput(layers, app);
    phase("export", "exporter", [...layout, "-layers", layers, "-app", app, "-launcher", launcher, "-run", join(ROOT, "run.toml"), "-cache-dir", cache, APP_IMAGE]);
    console.log(`\nreport.toml:\n${readFileSync(join(layers, "report.toml"), "utf8")}`);
    console.log("===> NEW RUN IMAGE  (patched run image 1.0.1 published as demo.local/cnb/run:latest)");
    await writeRunImage("1.0.1", tmp);
    const report = join(ROOT, "rebase-report.toml");
    phase("rebase", "rebaser", [...layout, "-report", report, APP_IMAGE]);
    const appPath = layoutPathForReference(LAYOUT_DIR, APP_IMAGE);
    console.log(`\nrebase report.toml:\n${readFileSync(report, "utf8")}`);
    const index = JSON.parse(readFileSync(join(appPath, "index.json"), "utf8")) as { manifests: { digest: string }[] };
    console.log(`Final image: ${appPath}`);
    console.log(`Final digest: ${index.manifests[0]?.digest ?? "?"}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
