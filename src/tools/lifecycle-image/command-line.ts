// The command line of `npm run image`: options, defaults, output and exit codes (0 built, 1 failed,
// 2 usage, 130 interrupted). Relative paths start in the directory npm was started in (INIT_CWD);
// defaults are in the repository root (the working directory scripts/image.mjs runs this in).
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { buildLifecycleImage, type PackageSource } from "./build-image.js";
import { daemonSink, parseLoadNames, parsePushReferences, registrySink, type ImageSink } from "./image-sinks.js";

/** The usage text. */
export const USAGE = `usage: npm run image -- --launcher <file> [--push <ref>]... [--load <name>]... [--release <tgz>] [--debs <dir>] [--out <dir>]
  --launcher <file>  the launcher for /cnb/lifecycle/launcher (required; see README "The lifecycle image")
  --push <ref>       also push the image to this reference (repeatable)
  --load <name>      also load the image into the Docker daemon at DOCKER_HOST under this name (repeatable)
  --release <tgz>    the release tarball (default dist/release/lifecycle-v<version>+linux.x86-64.tgz)
  --debs <dir>       take the Debian packages from this directory of .debs instead of apt (offline)
  --out <dir>        the OCI layout to write (default dist/image)`;

/** The parsed command line. */
export interface ImageCommand {
  readonly launcher: string;
  readonly push: readonly string[];
  /** Names to load the image under in the Docker daemon (DOCKER_HOST). */
  readonly load: readonly string[];
  readonly release: string;
  readonly packages: PackageSource;
  readonly out: string;
}

/** A command-line mistake (exit 2 with the usage). */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Parses argv; `root` is the repository, `cwd` where relative paths start, `env` for the cache location. */
export function parseImageCommand(argv: readonly string[], root: string, cwd: string, env: NodeJS.ProcessEnv): ImageCommand {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        launcher: { type: "string" },
        push: { type: "string", multiple: true },
        load: { type: "string", multiple: true },
        release: { type: "string" },
        debs: { type: "string" },
        out: { type: "string" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  if (!values.launcher) {
    throw new UsageError(
      "--launcher is required: the exporter copies /cnb/lifecycle/launcher into every app image, and this project has no launcher (take the Go lifecycle's, see README)",
    );
  }
  const version = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }).version;
  const cacheDir = env.LIFECYCLE_IMAGE_CACHE ? resolve(cwd, env.LIFECYCLE_IMAGE_CACHE) : join(root, "node_modules", ".cache", "lifecycle-image");
  return {
    launcher: resolve(cwd, values.launcher),
    push: values.push ?? [],
    load: values.load ?? [],
    release: values.release ? resolve(cwd, values.release) : join(root, "dist", "release", `lifecycle-v${version}+linux.x86-64.tgz`),
    packages: values.debs ? { kind: "directory", dir: resolve(cwd, values.debs) } : { kind: "apt", cacheDir: join(cacheDir, "debs") },
    out: values.out ? resolve(cwd, values.out) : join(root, "dist", "image"),
  };
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/** Runs the command; returns the exit code. */
export async function runImageCommand(argv: readonly string[]): Promise<number> {
  const root = process.cwd();
  let command: ImageCommand;
  let sinks: ImageSink[];
  try {
    command = parseImageCommand(argv, root, process.env.INIT_CWD ?? root, process.env);
    const refs = parsePushReferences(command.push);
    const loads = parseLoadNames(command.load);
    sinks = [...(refs.length > 0 ? [registrySink(refs, process.env)] : []), ...(loads.length > 0 ? [daemonSink(loads, process.env)] : [])];
  } catch (err) {
    console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
    if (err instanceof UsageError) console.error(USAGE);
    return 2;
  }
  const controller = new AbortController();
  const stop = (): void => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort(new Error("interrupted"));
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  const started = performance.now();
  try {
    const built = await buildLifecycleImage({ ...command, sinks, log: (line) => console.log(line), signal: controller.signal });
    for (const l of built.layers) {
      console.log(`${l.name} layer ${l.digest} ${megabytes(l.size)} (${megabytes(l.uncompressedSize)} uncompressed)`);
    }
    console.log(`image ${built.digest}, ${megabytes(built.compressedSize)} compressed, in ${command.out} as ${built.refName}`);
    console.log(`built in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    return 0;
  } catch (err) {
    console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
    return controller.signal.aborted ? 130 : 1;
  }
}
