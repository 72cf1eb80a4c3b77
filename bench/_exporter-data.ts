// The exporter benchmark's build output: a layers dir with launch layers of generated text-like
// data (log and JSON lines, compressible about like real logs), an app dir, group.toml,
// config/metadata.toml and a launcher — what a builder leaves for the exporter. Everything is
// generated from a seed, so every run of the benchmark archives the same bytes.
import { chmod, mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** What to generate. */
export interface BuildOutputSpec {
  /** Launch layers, spread over two buildpacks. */
  readonly layers: number;
  readonly layerBytes: number;
  readonly appBytes: number;
  readonly seed: number;
  /** The image the run.toml names as run image. */
  readonly runImage: string;
  /** The layers are also `cache = true` (default launch only). */
  readonly cache?: boolean;
}

/** Paths of the generated workspace and the files whose bytes make up the layers. */
export interface BuildOutput {
  readonly layersDir: string;
  readonly appDir: string;
  readonly launcher: string;
  readonly runToml: string;
  /** The launch layer directories, in image order. */
  readonly layerDirs: readonly string[];
  /** Every regular file the exporter archives (layers, app, config, launcher), in archive order. */
  readonly files: readonly string[];
  /** Their total size. */
  readonly bytes: number;
}

const MiB = 1024 * 1024;

/** mulberry32: a small, fast, seedable PRNG returning [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Words with a skewed frequency (a few very common, a long tail), like identifiers in logs. */
function vocabulary(random: () => number, size: number): string[] {
  const letters = "etaoinshrdlcumwfgypbvkjxqz";
  const words: string[] = [];
  for (let i = 0; i < size; i++) {
    let word = "";
    const length = 2 + Math.floor(random() * random() * 11);
    for (let j = 0; j < length; j++) word += letters[Math.floor(random() * random() * letters.length)] ?? "e";
    words.push(word);
  }
  return words;
}

const LEVELS = ["INFO", "INFO", "INFO", "DEBUG", "DEBUG", "WARN", "ERROR"];
const METHODS = ["GET", "GET", "GET", "POST", "PUT", "DELETE"];

/** Fills `buf` with log lines and JSON records (deterministic for a given `random`). */
function fillText(buf: Buffer, random: () => number, words: readonly string[]): void {
  const pick = (): string => words[Math.floor(random() ** 3 * words.length)] ?? "x";
  let pos = 0;
  let clock = 1_700_000_000_000 + Math.floor(random() * 1e9);
  while (pos < buf.length) {
    clock += Math.floor(random() * 2000);
    const ts = new Date(clock).toISOString();
    let line: string;
    if (random() < 0.5) {
      const level = LEVELS[Math.floor(random() * LEVELS.length)] ?? "INFO";
      let msg = pick();
      for (let n = 3 + Math.floor(random() * 12); n > 0; n--) msg += ` ${pick()}`;
      line = `${ts} ${level} [${pick()}.${pick()}] ${msg} (took ${Math.floor(random() * 900)}ms)\n`;
    } else {
      const method = METHODS[Math.floor(random() * METHODS.length)] ?? "GET";
      const status = random() < 0.9 ? 200 : random() < 0.5 ? 404 : 500;
      line =
        `{"ts":"${ts}","level":"info","method":"${method}","path":"/api/v1/${pick()}/${Math.floor(random() * 10000)}",` +
        `"status":${status},"bytes":${Math.floor(random() * 65536)},"user":"${pick()}_${pick()}","msg":"${pick()} ${pick()} ${pick()}"}\n`;
    }
    pos += buf.write(line, pos, "latin1");
  }
}

/** Writes files of 1–7 MiB totalling exactly `bytes` under `dir` (two levels of directories). */
async function writeTree(dir: string, bytes: number, seed: number, words: readonly string[], files: string[]): Promise<void> {
  const random = prng(seed);
  let left = bytes;
  for (let i = 0; left > 0; i++) {
    const size = Math.min(left, Math.floor((1 + random() * 6) * MiB));
    const sub = join(dir, `part-${Math.floor(i / 8)}`);
    if (i % 8 === 0) await mkdir(sub, { recursive: true });
    const path = join(sub, `${i % 2 === 0 ? "events" : "records"}-${i}.${i % 2 === 0 ? "log" : "jsonl"}`);
    const buf = Buffer.allocUnsafe(size);
    fillText(buf, random, words);
    await writeFile(path, buf);
    files.push(path);
    left -= size;
  }
}

/** Replaces what a layer directory holds with `bytes` of other generated files (a buildpack that changed it). */
export async function rewriteLayerTree(dir: string, bytes: number, seed: number): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await writeTree(dir, bytes, seed, vocabulary(prng(seed), 5000), []);
}

const q = (s: string): string => JSON.stringify(s);

/** Writes the workspace under `root` (which must exist). */
export async function writeBuildOutput(root: string, spec: BuildOutputSpec): Promise<BuildOutput> {
  const layersDir = join(root, "layers");
  const appDir = join(root, "workspace");
  const launcher = join(root, "launcher");
  const runToml = join(root, "run.toml");
  const words = vocabulary(prng(spec.seed), 5000);
  const buildpacks = [
    { id: "bench/runtime", version: "1.0.0" },
    { id: "bench/assets", version: "2.0.0" },
  ];
  const files: string[] = [];
  const layerDirs: string[] = [];
  await mkdir(layersDir, { recursive: true });
  await writeFile(
    join(layersDir, "group.toml"),
    buildpacks.map((b) => `[[group]]\n  id = ${q(b.id)}\n  version = ${q(b.version)}\n  api = "0.10"\n`).join("\n"),
  );
  // layers alternate between the buildpacks; the image lists them in group order, then by name
  for (const [b, bp] of buildpacks.entries()) {
    const bpDir = join(layersDir, bp.id.replace("/", "_"));
    for (let i = b; i < spec.layers; i += buildpacks.length) {
      const name = `layer-${String(i).padStart(3, "0")}`;
      await mkdir(join(bpDir, name), { recursive: true });
      await writeFile(join(bpDir, `${name}.toml`), `[types]\n  launch = true\n  build = false\n  cache = ${spec.cache === true}\n[metadata]\n  index = ${i}\n`);
      layerDirs.push(join(bpDir, name));
    }
  }
  for (const [i, dir] of layerDirs.entries()) await writeTree(dir, spec.layerBytes, spec.seed * 1000 + i + 1, words, files);
  await mkdir(appDir, { recursive: true });
  await writeTree(appDir, spec.appBytes, spec.seed * 1000 + 999, words, files);
  // a launcher of about a real one's size (binary-ish: it compresses poorly)
  const launcherBytes = Buffer.allocUnsafe(3 * MiB);
  const random = prng(spec.seed + 7);
  for (let i = 0; i < launcherBytes.length; i += 4) launcherBytes.writeUInt32LE(Math.floor(random() * 2 ** 32) & 0x0f0f0fff, i);
  await writeFile(launcher, launcherBytes);
  await chmod(launcher, 0o755);
  files.push(launcher);
  const metadata = [
    ...buildpacks.flatMap((b) => ["[[buildpacks]]", `  id = ${q(b.id)}`, `  version = ${q(b.version)}`, `  api = "0.10"`, ""]),
    "[[processes]]",
    `  type = "web"`,
    `  command = ["/workspace/server", "--port", "8080"]`,
    `  buildpack-id = "bench/runtime"`,
    "  direct = true",
    "  default = true",
    "",
  ].join("\n");
  await mkdir(join(layersDir, "config"), { recursive: true });
  await writeFile(join(layersDir, "config", "metadata.toml"), metadata);
  files.push(join(layersDir, "config", "metadata.toml"));
  await writeFile(runToml, `[[images]]\n  image = ${q(spec.runImage)}\n`);
  return { layersDir, appDir, launcher, runToml, layerDirs, files, bytes: spec.layers * spec.layerBytes + spec.appBytes + launcherBytes.length + Buffer.byteLength(metadata) };
}
