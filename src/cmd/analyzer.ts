import { LayoutImageHandler, RegistryImageHandler, type ImageHandler } from "../image/handler.js";
import { analyze } from "../phase/analyzer.js";
import { errorMessage, LifecycleError } from "../platform/errors.js";
import { ExitCode } from "../platform/exit-codes.js";
import { guardExperimental } from "../platform/experimental.js";
import { platformFeatures } from "../platform/features.js";
import { writeAnalyzed } from "../platform/files/analyzed.js";
import { readRunTomlIfExists } from "../platform/files/run.js";
import { readStackTomlIfExists } from "../platform/files/stack.js";
import { absoluteDir, substituteLayers, validateReferences, validateSameRegistry } from "../platform/inputs.js";
import { selectRunImage, type RunImageCandidates } from "../platform/run-image-selection.js";
import { checkReadAccess, checkWriteAccess } from "../registry/access.js";
import type { RegistryClient } from "../registry/client.js";
import { DefaultKeychain } from "../registry/keychain.js";
import { Reference, registryOf } from "../registry/reference.js";
import type { CommandContext, PhaseCommand } from "./command.js";
import { F } from "./flag-specs.js";
import { flagBool, flagInt, flagString, flagStrings, parseGoBool } from "./go-flags.js";
import { ensurePrivileges } from "./privileges.js";
import { makeRegistryClient } from "./registry.js";

/** The analyzer's flags for every supported Platform API (contract §2.1). */
export const ANALYZER_FLAGS = [
  F.analyzed,
  F.cacheImage,
  F.daemon,
  F.gid,
  F.insecureRegistry,
  { ...F.launchCache, since: "0.9" },
  F.layers,
  F.layout,
  F.layoutDir,
  F.previousImage,
  F.run,
  F.runImage,
  { ...F.skipLayers, since: "0.9" },
  F.stack,
  F.tag,
  F.uid,
];

/** The analyzer's resolved inputs. */
export interface AnalyzerInputs {
  readonly outputImage: string;
  readonly tags: readonly string[];
  readonly analyzedPath: string;
  readonly cacheImage: string;
  readonly daemon: boolean;
  readonly layout: boolean;
  readonly layoutDir: string;
  readonly layersDir: string;
  readonly launchCacheDir: string;
  readonly previousImage: string;
  readonly runImage: string;
  readonly skipLayers: boolean;
  readonly insecureRegistries: readonly string[];
  readonly uid: number;
  readonly gid: number;
  readonly keychain: DefaultKeychain | undefined;
  readonly client: () => RegistryClient;
}

async function runImageCandidates(ctx: CommandContext, useRunToml: boolean, runPath: string, stackPath: string): Promise<RunImageCandidates> {
  const fail = (msg: string) => new LifecycleError(ExitCode.InvalidArgs, `failed to resolve inputs: ${msg}`);
  try {
    if (useRunToml) {
      const runToml = await readRunTomlIfExists(runPath);
      if (!runToml) ctx.logger.info(`No run metadata found at path "${runPath}"`);
      const first = runToml?.images[0];
      if (!first) throw fail("-run-image is required when there is no run metadata available");
      return first;
    }
    const stack = await readStackTomlIfExists(stackPath);
    if (!stack) ctx.logger.info(`No stack metadata found at path "${stackPath}"`);
    return { image: stack?.runImage.image ?? "", mirrors: stack?.runImage.mirrors ?? [] };
  } catch (err) {
    if (err instanceof LifecycleError) throw err;
    throw fail(errorMessage(err));
  }
}

function handlerFor(inputs: AnalyzerInputs): ImageHandler {
  return inputs.layout ? new LayoutImageHandler(inputs.layoutDir) : new RegistryImageHandler(inputs.client());
}

async function validateAccess(inputs: AnalyzerInputs, ctx: CommandContext): Promise<void> {
  const client = inputs.client();
  const readChecks = [inputs.previousImage, inputs.runImage];
  const writeChecks = [inputs.outputImage, ...inputs.tags];
  const registryMode = !inputs.daemon && !inputs.layout;
  const read = async (ref: string) => {
    const result = await checkReadAccess(client, Reference.parse(ref), { notFoundIsReadable: true });
    if (!result.ok) {
      ctx.logger.debug(`Read access to ${ref} denied: ${result.error?.message ?? ""}`);
      throw new Error(`validating registry read access: failed to ensure registry read access to ${ref}`);
    }
  };
  const write = async (ref: string) => {
    const result = await checkWriteAccess(client, Reference.parse(ref));
    if (!result.ok) {
      ctx.logger.debug(`Write access to ${ref} denied: ${result.error?.message ?? ""}`);
      throw new Error(`validating registry write access: failed to ensure registry read/write access to ${ref}`);
    }
  };
  const checks: Promise<void>[] = [];
  if (registryMode) {
    for (const ref of readChecks) if (ref !== "") checks.push(read(ref));
    for (const ref of writeChecks) if (ref !== "") checks.push(write(ref));
  }
  if (inputs.cacheImage !== "") checks.push(write(inputs.cacheImage));
  const results = await Promise.allSettled(checks);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
}

export const analyzerCommand: PhaseCommand<AnalyzerInputs> = {
  name: "analyzer",
  argsSynopsis: "<image>",
  flags: ANALYZER_FLAGS,
  async args(ctx: CommandContext) {
    const f = ctx.flags;
    const n = f.args.length;
    if (n !== 1) {
      throw new LifecycleError(ExitCode.InvalidArgs, `failed to parse arguments: received ${n} arguments, but expected 1`);
    }
    const features = platformFeatures(ctx.api);
    const fail = (msg: string) => new LifecycleError(ExitCode.InvalidArgs, `failed to resolve inputs: ${msg}`);
    const outputImage = f.args[0] ?? "";
    if (outputImage === "") throw fail("image argument is required");
    const layersDir = absoluteDir(flagString(f, "layers"), ctx.cwd);
    const daemon = flagBool(f, "daemon");
    const layout = flagBool(f, "layout");
    const insecureRegistries = flagStrings(f, "insecure-registry");
    let keychain: DefaultKeychain | undefined;
    let keychainError: unknown;
    try {
      keychain = new DefaultKeychain({ env: ctx.env });
    } catch (err) {
      keychainError = err;
    }
    let client: RegistryClient | undefined;
    const getClient = () => {
      if (!keychain) throw new LifecycleError(ExitCode.Failed, `failed to resolve keychain: ${errorMessage(keychainError)}`);
      client ??= makeRegistryClient(ctx.env, keychain, insecureRegistries, ctx.logger);
      return client;
    };

    let runImage = flagString(f, "run-image");
    if (runImage === "") {
      const candidates = await runImageCandidates(ctx, features.usesRunToml, flagString(f, "run") || "/cnb/run.toml", flagString(f, "stack") || "/cnb/stack.toml");
      if (keychainError !== undefined && !daemon && !layout) throw fail(errorMessage(keychainError));
      const probe = daemon || layout
        ? () => Promise.resolve({ readable: true })
        : async (ref: string) => {
            const r = await checkReadAccess(getClient(), Reference.parse(ref));
            return { readable: r.ok, reason: r.error?.message };
          };
      runImage = await selectRunImage(candidates, registryOf(outputImage), probe, ctx.logger);
    }
    const launchCacheDir = absoluteDir(flagString(f, "launch-cache"), ctx.cwd);
    if (launchCacheDir !== "" && !daemon) ctx.logger.warn("Ignoring -launch-cache, only intended for use with -daemon");
    const tags = flagStrings(f, "tag").filter((t) => t !== "");
    const inputs: AnalyzerInputs = {
      outputImage,
      tags,
      analyzedPath: substituteLayers(flagString(f, "analyzed"), layersDir),
      cacheImage: flagString(f, "cache-image"),
      daemon,
      layout,
      layoutDir: flagString(f, "layout-dir"),
      layersDir,
      launchCacheDir,
      previousImage: flagString(f, "previous-image") || outputImage,
      runImage,
      skipLayers: flagBool(f, "skip-layers"),
      insecureRegistries,
      uid: flagInt(f, "uid"),
      gid: flagInt(f, "gid"),
      keychain,
      client: getClient,
    };
    validateReferences([outputImage, ...tags, inputs.previousImage, ctx.env.CNB_BUILD_IMAGE ?? "", runImage, inputs.cacheImage]);
    if (!daemon) validateSameRegistry([outputImage, ...tags]);
    if (parseGoBool(ctx.env.CNB_PARALLEL_EXPORT ?? "") === true && inputs.cacheImage === "" && (ctx.env.CNB_CACHE_DIR ?? "") === "") {
      ctx.logger.warn("Parallel export has been enabled, but it has not taken effect because no cache has been specified.");
    }
    if (layout) {
      guardExperimental("export to OCI layout format", ctx.env, ctx.logger);
      if (inputs.layoutDir === "") throw fail("-layout-dir is required when -layout is set");
    }
    return inputs;
  },
  async privileges(inputs, ctx) {
    const images = [inputs.cacheImage];
    if (!inputs.daemon) images.push(inputs.outputImage, ...inputs.tags, inputs.previousImage, ctx.env.CNB_BUILD_IMAGE ?? "", inputs.runImage);
    await ensurePrivileges({
      env: ctx.env,
      keychain: inputs.keychain,
      images: images.filter((i) => i !== ""),
      chown: [inputs.layersDir, absoluteDir(ctx.env.CNB_CACHE_DIR ?? "", ctx.cwd), inputs.launchCacheDir],
      uid: inputs.uid,
      gid: inputs.gid,
      daemon: inputs.daemon,
    });
  },
  async exec(inputs, _runtime, ctx) {
    const features = platformFeatures(ctx.api);
    const handler = handlerFor(inputs);
    try {
      await validateAccess(inputs, ctx);
    } catch (err) {
      throw new LifecycleError(ExitCode.AnalyzeError, `failed to initialize analyzer: ${errorMessage(err)}`, { cause: err });
    }
    let analyzed;
    try {
      analyzed = await analyze({
        features,
        logger: ctx.logger,
        layersDir: inputs.layersDir,
        skipLayers: inputs.skipLayers,
        previousImage: { name: inputs.previousImage, image: handler.open(inputs.previousImage) },
        runImage: { name: inputs.runImage, image: handler.open(inputs.runImage) },
      });
    } catch (err) {
      throw new LifecycleError(ExitCode.AnalyzeError, `failed to analyze: ${errorMessage(err)}`, { cause: err });
    }
    try {
      await writeAnalyzed(inputs.analyzedPath, analyzed);
    } catch (err) {
      throw new LifecycleError(ExitCode.Failed, `failed to write analyzed: ${errorMessage(err)}`, { cause: err });
    }
  },
};
