import { join } from "node:path";
import type { ImageStore } from "../image/store.js";
import { writeLayoutImage } from "../image/layout-writer.js";
import { RemoteImage } from "../image/remote-image.js";
import type { Logger } from "../log/logger.js";
import { targetFromConfig } from "../phase/analyzer.js";
import { restore } from "../phase/restorer.js";
import { errorMessage, LifecycleError, failErr } from "../platform/errors.js";
import { ExitCode } from "../platform/exit-codes.js";
import { platformFeatures, type PlatformFeatures } from "../platform/features.js";
import { readAnalyzedIfExists, writeAnalyzed, type Analyzed } from "../platform/files/analyzed.js";
import type { GroupToml } from "../platform/files/group.js";
import { emptyLifecycleMetadata } from "../platform/files/lifecycle-metadata.js";
import { readRunTomlIfExists } from "../platform/files/run.js";
import { absoluteDir, readVerifiedGroup, substituteLayers, validateReferences } from "../platform/inputs.js";
import { verifySelectedRunImage } from "../platform/run-image-selection.js";
import type { RegistryClient } from "../registry/client.js";
import { Reference } from "../registry/reference.js";
import type { CommandContext, PhaseCommand } from "./command.js";
import { openCache } from "./cache.js";
import { F } from "./flag-specs.js";
import { flagBool, flagInt, flagString, flagStrings } from "./go-flags.js";
import { createImageStore, imageStoreKind, type ImageStoreKind } from "./image-store.js";
import { ensurePrivileges } from "./privileges.js";
import { makeRegistryClient } from "./registry.js";

/** The restorer's flags for every supported Platform API (contract §2.2). */
export const RESTORER_FLAGS = [
  F.analyzed,
  F.buildImage,
  F.cacheDir,
  F.cacheImage,
  { ...F.daemon, since: "0.12" },
  F.generated,
  F.gid,
  F.group,
  F.insecureRegistry,
  F.layers,
  F.layout,
  F.layoutDir,
  { ...F.run, since: "0.14" },
  F.skipLayers,
  F.uid,
];

/** The restorer's resolved inputs. */
export interface RestorerInputs {
  readonly analyzedPath: string;
  readonly buildImage: string;
  readonly cacheDir: string;
  readonly cacheImage: string;
  readonly daemon: boolean;
  readonly generatedDir: string;
  readonly groupPath: string;
  readonly insecureRegistries: readonly string[];
  readonly layersDir: string;
  readonly storeKind: ImageStoreKind;
  readonly layoutDir: string;
  readonly runPath: string;
  readonly skipLayers: boolean;
  readonly uid: number;
  readonly gid: number;
  /** Where base image manifests are saved for kaniko (`/kaniko`; `CNB_KANIKO_DIR` overrides it for tests). */
  readonly kanikoDir: string;
}

/** What Exec needs from Privileges. */
interface RestorerRuntime {
  /** Registry images the restorer always reads from a registry (build image, extended run image, cache image). */
  readonly client: RegistryClient;
  readonly store: ImageStore;
}

/** Saves a base image's manifest and config (no layers) under `<kaniko>/cache/base/<digest>`. */
async function saveSparse(kanikoDir: string, image: RemoteImage): Promise<string> {
  const { digest } = await image.manifest();
  const base = join(kanikoDir, "cache", "base");
  await writeLayoutImage(image, join(base, digest), { sparse: true });
  return digest;
}

/** Contract §2.2 step 4: build image, run image check (0.14+), extended run image, then rewrite. */
async function refreshAnalyzed(
  analyzed: Analyzed,
  inputs: RestorerInputs,
  features: PlatformFeatures,
  group: GroupToml,
  { client, store }: RestorerRuntime,
  logger: Logger,
): Promise<Analyzed> {
  let result = analyzed;
  if (features.restorerResolvesRunImageForExtensions && inputs.buildImage !== "") {
    logger.debug(`Pulling builder image metadata for ${inputs.buildImage}...`);
    const image = new RemoteImage(client, Reference.parse(inputs.buildImage));
    const digest = await saveSparse(inputs.kanikoDir, image);
    result = { ...result, buildImage: { reference: image.ref.withDigest(digest).name } };
  }
  const runImage = result.runImage;
  const selected = runImage?.image ?? "";
  if (features.restorerChecksRunImage && selected !== "") {
    await verifyRunImageAccess(selected, inputs, store, logger);
  }
  if (runImage && features.recordsRunImageTarget && inputs.storeKind !== "layout" && runImage.extend) {
    // pull the image the analyzer selected (a mirror, maybe), never the run.toml primary
    logger.debug(`Pulling run image metadata for ${selected || runImage.reference}...`);
    const image = new RemoteImage(client, Reference.parse(selected || runImage.reference));
    const digest = await saveSparse(inputs.kanikoDir, image);
    const target = targetFromConfig((await image.config()).config);
    result = { ...result, runImage: { ...runImage, reference: image.ref.withDigest(digest).name, target } };
  } else if (runImage && features.restorerResolvesRunImageForExtensions && group.groupExtensions.length > 0 && !runImage.target?.os) {
    const image = store.open(selected || runImage.reference);
    if (!(await image.exists())) throw new Error(`run image '${selected || runImage.reference}' not found`);
    const reference = await image.identifier();
    const target = features.recordsRunImageTarget ? targetFromConfig((await image.config()).config) : undefined;
    result = { ...result, runImage: { ...runImage, reference, ...(target ? { target } : {}) } };
  }
  return result;
}

/** The issue-1590 rule: re-check only the run image the analyzer chose, never re-select. */
async function verifyRunImageAccess(selected: string, inputs: RestorerInputs, store: ImageStore, logger: Logger): Promise<void> {
  const runToml = await readRunTomlIfExists(inputs.runPath);
  if (!runToml) {
    logger.info(`No run metadata found at path "${inputs.runPath}"`);
    return;
  }
  await verifySelectedRunImage(selected, runToml, (ref, signal) => store.probeRead(ref, { signal }), logger);
}

export const restorerCommand: PhaseCommand<RestorerInputs, RestorerRuntime> = {
  name: "restorer",
  argsSynopsis: "",
  flags: RESTORER_FLAGS,
  args(ctx: CommandContext) {
    const f = ctx.flags;
    if (f.args.length > 0) {
      throw new LifecycleError(ExitCode.InvalidArgs, "failed to parse arguments: received unexpected Args");
    }
    const layersDir = absoluteDir(flagString(f, "layers"), ctx.cwd);
    const inputs: RestorerInputs = {
      analyzedPath: substituteLayers(flagString(f, "analyzed"), layersDir),
      buildImage: flagString(f, "build-image"),
      cacheDir: absoluteDir(flagString(f, "cache-dir"), ctx.cwd),
      cacheImage: flagString(f, "cache-image"),
      daemon: flagBool(f, "daemon"),
      generatedDir: absoluteDir(substituteLayers(flagString(f, "generated"), layersDir), ctx.cwd),
      groupPath: substituteLayers(flagString(f, "group"), layersDir),
      insecureRegistries: flagStrings(f, "insecure-registry"),
      layersDir,
      storeKind: imageStoreKind({ daemon: flagBool(f, "daemon"), layout: flagBool(f, "layout") }),
      layoutDir: flagString(f, "layout-dir"),
      runPath: flagString(f, "run") || "/cnb/run.toml",
      skipLayers: flagBool(f, "skip-layers"),
      uid: flagInt(f, "uid"),
      gid: flagInt(f, "gid"),
      kanikoDir: ctx.env.CNB_KANIKO_DIR || "/kaniko",
    };
    if (inputs.cacheImage === "" && inputs.cacheDir === "") {
      ctx.logger.warn("No cached data will be used, no cache specified.");
    }
    validateReferences([inputs.cacheImage, inputs.buildImage, ctx.env.CNB_PREVIOUS_IMAGE ?? "", ctx.env.CNB_RUN_IMAGE ?? ""]);
    return inputs;
  },
  async privileges(inputs, ctx) {
    const images = [inputs.cacheImage];
    if (!inputs.daemon) images.push(ctx.env.CNB_PREVIOUS_IMAGE ?? "", inputs.buildImage, ctx.env.CNB_RUN_IMAGE ?? "");
    const { keychain, daemon } = await ensurePrivileges({
      env: ctx.env,
      images: images.filter((i) => i !== ""),
      chown: [inputs.layersDir, inputs.cacheDir, inputs.kanikoDir],
      uid: inputs.uid,
      gid: inputs.gid,
      // the restorer needs the daemon only for a run image's target with extensions
      ...(inputs.daemon ? { daemon: "optional" as const } : {}),
    });
    const client = makeRegistryClient(ctx.env, keychain, inputs.insecureRegistries, ctx.logger);
    return { client, store: await createImageStore(inputs.storeKind, { client: () => client, layoutDir: inputs.layoutDir, daemon }) };
  },
  async exec(inputs, runtime, ctx) {
    const { client } = runtime;
    const features = platformFeatures(ctx.api);
    const group = await readVerifiedGroup(inputs.groupPath, ctx.env, ctx.logger);
    let analyzed: Analyzed = { metadata: emptyLifecycleMetadata() };
    let usable = true;
    try {
      const read = await readAnalyzedIfExists(inputs.analyzedPath);
      if (read) analyzed = read;
      else ctx.logger.warn(`No analyzed metadata found at path "${inputs.analyzedPath}"`);
    } catch (err) {
      ctx.logger.warn(`Not using analyzed data, usable file not found: ${errorMessage(err)}`);
      usable = false;
    }
    if (usable) {
      try {
        analyzed = await refreshAnalyzed(analyzed, inputs, features, group, runtime, ctx.logger);
        await writeAnalyzed(inputs.analyzedPath, analyzed);
      } catch (err) {
        if (err instanceof LifecycleError) throw err;
        throw new LifecycleError(ExitCode.Failed, errorMessage(err), { cause: err });
      }
    }
    const cache = await openCache(inputs.cacheImage, inputs.cacheDir, client);
    try {
      await restore({
        features,
        logger: ctx.logger,
        layersDir: inputs.layersDir,
        group: group.group,
        appMetadata: analyzed.metadata,
        cache,
        skipLayers: inputs.skipLayers,
        owner: { uid: inputs.uid, gid: inputs.gid },
        record: { analyzedPath: inputs.analyzedPath },
      });
    } catch (err) {
      throw failErr(ExitCode.RestoreError, "restore", err);
    }
  },
};
