import type { ImageStore } from "../image/store.js";
import { analyze } from "../phase/analyzer.js";
import { errorMessage, LifecycleError, failErr } from "../platform/errors.js";
import { ExitCode } from "../platform/exit-codes.js";
import { guardExperimental } from "../platform/experimental.js";
import { platformFeatures } from "../platform/features.js";
import { writeAnalyzed } from "../platform/files/analyzed.js";
import { readRunTomlIfExists } from "../platform/files/run.js";
import { readStackTomlIfExists } from "../platform/files/stack.js";
import { absoluteDir, substituteLayers, validateReferences, validateSameRegistry } from "../platform/inputs.js";
import { selectRunImage, type ReadProbe, type RunImageCandidates } from "../platform/run-image-selection.js";
import { checkWriteAccess } from "../registry/access.js";
import type { RegistryClient } from "../registry/client.js";
import { DefaultKeychain } from "../registry/keychain.js";
import { Reference, registryOf } from "../registry/reference.js";
import type { CommandContext, PhaseCommand } from "./command.js";
import { F } from "./flag-specs.js";
import { flagBool, flagInt, flagString, flagStrings, parseGoBool } from "./go-flags.js";
import { createImageStore, imageStoreKind, type ImageStoreKind } from "./image-store.js";
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
  readonly storeKind: ImageStoreKind;
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

/** What Exec needs from Privileges. */
interface AnalyzerRuntime {
  readonly store: ImageStore;
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

/** Contract §2.1 step 5.1: read access to the previous and run images, write access to the output, tags and cache image. */
async function validateAccess(inputs: AnalyzerInputs, store: ImageStore, ctx: CommandContext): Promise<void> {
  const read = async (ref: string) => {
    const result = await store.probeRead(ref);
    // an image that does not exist yet is fine here (Go counts a 404 as readable)
    if (!result.readable && !result.missing) {
      ctx.logger.debug(`Read access to ${ref} denied: ${result.reason ?? ""}`);
      throw new Error(`validating registry read access: failed to ensure registry read access to ${ref}`);
    }
  };
  const denied = (ref: string, reason: string | undefined) => {
    ctx.logger.debug(`Write access to ${ref} denied: ${reason ?? ""}`);
    return new Error(`validating registry write access: failed to ensure registry read/write access to ${ref}`);
  };
  const write = async (ref: string) => {
    const result = await store.probeWrite(ref);
    if (!result.readable) throw denied(ref, result.reason);
  };
  const checks: Promise<void>[] = [];
  for (const ref of [inputs.previousImage, inputs.runImage]) if (ref !== "") checks.push(read(ref));
  for (const ref of [inputs.outputImage, ...inputs.tags]) if (ref !== "") checks.push(write(ref));
  // the cache image lives in a registry whatever the store
  if (inputs.cacheImage !== "") {
    checks.push(
      (async () => {
        const result = await checkWriteAccess(inputs.client(), Reference.parse(inputs.cacheImage));
        if (!result.ok) throw denied(inputs.cacheImage, result.error?.message);
      })(),
    );
  }
  const results = await Promise.allSettled(checks);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
}

export const analyzerCommand: PhaseCommand<AnalyzerInputs, AnalyzerRuntime> = {
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
    const storeKind = imageStoreKind({ daemon, layout });
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
      // daemon and layout images need no access check (contract §6.1)
      let probe: ReadProbe = () => Promise.resolve({ readable: true });
      if (storeKind === "registry") {
        if (keychainError !== undefined) throw fail(errorMessage(keychainError));
        const store = await createImageStore("registry", { client: getClient, layoutDir: "" });
        probe = (ref, signal) => store.probeRead(ref, { signal });
      }
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
      storeKind,
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
    const { daemon } = await ensurePrivileges({
      env: ctx.env,
      keychain: inputs.keychain,
      images: images.filter((i) => i !== ""),
      chown: [inputs.layersDir, absoluteDir(ctx.env.CNB_CACHE_DIR ?? "", ctx.cwd), inputs.launchCacheDir],
      uid: inputs.uid,
      gid: inputs.gid,
      ...(inputs.daemon ? { daemon: "required" as const } : {}),
    });
    const store = await createImageStore(inputs.storeKind, { client: inputs.client, layoutDir: inputs.layoutDir, daemon, launchCacheDir: inputs.launchCacheDir });
    return { store };
  },
  async exec(inputs, { store }, ctx) {
    const features = platformFeatures(ctx.api);
    try {
      await validateAccess(inputs, store, ctx);
    } catch (err) {
      throw failErr(ExitCode.AnalyzeError, "initialize analyzer", err);
    }
    let analyzed;
    try {
      analyzed = await analyze({
        features,
        logger: ctx.logger,
        layersDir: inputs.layersDir,
        skipLayers: inputs.skipLayers,
        previousImage: { name: inputs.previousImage, image: store.open(inputs.previousImage), display: store.describe(inputs.previousImage) },
        runImage: { name: inputs.runImage, image: store.open(inputs.runImage), display: store.describe(inputs.runImage) },
      });
    } catch (err) {
      throw failErr(ExitCode.AnalyzeError, "analyze", err);
    }
    try {
      await writeAnalyzed(inputs.analyzedPath, analyzed);
    } catch (err) {
      throw failErr(ExitCode.Failed, "write analyzed", err);
    }
  },
};
