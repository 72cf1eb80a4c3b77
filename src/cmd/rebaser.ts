import type { ImageStore, StoredImage } from "../image/store.js";
import { rebase } from "../phase/rebaser.js";
import { saveImage } from "../phase/save-image.js";
import { errorMessage, LifecycleError, failErr } from "../platform/errors.js";
import { ExitCode } from "../platform/exit-codes.js";
import { guardExperimental } from "../platform/experimental.js";
import { platformFeatures } from "../platform/features.js";
import { LIFECYCLE_METADATA_LABEL, parseLifecycleMetadataLabelCompat } from "../platform/files/lifecycle-metadata.js";
import { writeReport } from "../platform/files/report.js";
import { substituteLayers, validateReferences, validateSameRegistry } from "../platform/inputs.js";
import { selectRunImage } from "../platform/run-image-selection.js";
import type { RegistryClient } from "../registry/client.js";
import { DefaultKeychain } from "../registry/keychain.js";
import { Reference } from "../registry/reference.js";
import { imageArgs, type CommandContext, type PhaseCommand } from "./command.js";
import { F } from "./flag-specs.js";
import { flagBool, flagInt, flagString, flagStrings } from "./go-flags.js";
import { createImageStore, imageStoreKind, type ImageStoreKind } from "./image-store.js";
import { ensurePrivileges } from "./privileges.js";
import { makeRegistryClient } from "./registry.js";

/** The rebaser's flags for every supported Platform API (contract §2.4). */
export const REBASER_FLAGS = [
  F.daemon,
  F.force,
  F.gid,
  F.image,
  F.insecureRegistry,
  F.layout,
  F.layoutDir,
  { ...F.previousImage, since: "0.11", envWhenUndefined: true },
  // no -layers flag: the report defaults to $CNB_LAYERS_DIR/report.toml
  F.report,
  F.runImage,
  F.uid,
];

/** The rebaser's resolved inputs. */
export interface RebaserInputs {
  readonly outputImage: string;
  readonly tags: readonly string[];
  /** The image to read (`-previous-image`, else the output image). */
  readonly appImage: string;
  /** The run image given explicitly (`-run-image`, `CNB_RUN_IMAGE` or `-image`), or "". */
  readonly runImage: string;
  readonly daemon: boolean;
  readonly force: boolean;
  readonly storeKind: ImageStoreKind;
  readonly layoutDir: string;
  readonly reportPath: string;
  readonly insecureRegistries: readonly string[];
  readonly uid: number;
  readonly gid: number;
}

/** What Exec needs: the image store, the app image read before privileges were dropped, the chosen run image. */
interface RebaserRuntime {
  readonly store: ImageStore;
  readonly appImage: StoredImage;
  readonly runImageName: string;
}

function failApp(err: unknown): LifecycleError {
  return failErr(ExitCode.RebaseError, "set app image", err);
}

/** Contract §2.4 step 3: open the app image and, without an explicit run image, pick one from its label. */
async function setAppImage(inputs: RebaserInputs, ctx: CommandContext, store: ImageStore): Promise<RebaserRuntime> {
  const features = platformFeatures(ctx.api);
  const appImage = store.open(inputs.appImage);
  if (!(await appImage.exists())) throw new Error("failed to access image to rebase");
  if (inputs.runImage !== "") return { store, appImage, runImageName: inputs.runImage };
  const label = (await appImage.config()).config.config?.Labels?.[LIFECYCLE_METADATA_LABEL] ?? "";
  const md = parseLifecycleMetadataLabelCompat(label);
  const fromLabel = features.rebaserChecksRunImageName && md.runImage.image ? md.runImage : md.stack?.runImage;
  if (!fromLabel?.image) throw new Error("-run-image is required when there is no run image metadata available");
  const runImageName = await selectRunImage(
    { image: fromLabel.image, mirrors: fromLabel.mirrors ?? [] },
    Reference.tryParse(inputs.appImage)?.registry,
    (ref, signal) => store.probeRead(ref, { signal }),
    ctx.logger,
  );
  return { store, appImage, runImageName };
}

export const rebaserCommand: PhaseCommand<RebaserInputs, RebaserRuntime> = {
  name: "rebaser",
  argsSynopsis: "<image> [<image>...]",
  flags: REBASER_FLAGS,
  args(ctx: CommandContext) {
    const f = ctx.flags;
    const { outputImage, tags } = imageArgs(ctx);
    const fail = (msg: string) => new LifecycleError(ExitCode.InvalidArgs, `failed to resolve inputs: ${msg}`);
    const deprecated = flagString(f, "image");
    let runImage = flagString(f, "run-image");
    if (deprecated !== "") {
      if (runImage !== "" && runImage !== (ctx.env.CNB_RUN_IMAGE ?? "")) throw fail("supply only one of -run-image or (deprecated) -image");
      runImage = deprecated;
    }
    const layersDir = ctx.env.CNB_LAYERS_DIR || "/layers";
    const inputs: RebaserInputs = {
      outputImage,
      tags,
      appImage: flagString(f, "previous-image") || outputImage,
      runImage,
      daemon: flagBool(f, "daemon"),
      force: flagBool(f, "force"),
      storeKind: imageStoreKind({ daemon: flagBool(f, "daemon"), layout: flagBool(f, "layout") }),
      layoutDir: flagString(f, "layout-dir"),
      reportPath: substituteLayers(flagString(f, "report"), layersDir),
      insecureRegistries: flagStrings(f, "insecure-registry"),
      uid: flagInt(f, "uid"),
      gid: flagInt(f, "gid"),
    };
    validateReferences([outputImage, ...tags, inputs.appImage, runImage]);
    if (!inputs.daemon) validateSameRegistry([outputImage, ...tags]);
    if (inputs.storeKind === "layout") {
      guardExperimental("export to OCI layout format", ctx.env, ctx.logger);
      if (inputs.layoutDir === "") throw fail("-layout-dir is required when -layout is set");
    }
    return inputs;
  },
  async privileges(inputs, ctx) {
    let runtime: RebaserRuntime | undefined;
    if (!inputs.daemon) {
      // contract §2.4 step 3: the app image is read before privileges are dropped
      let keychain: DefaultKeychain;
      try {
        keychain = new DefaultKeychain({ env: ctx.env });
      } catch (err) {
        throw failApp(err);
      }
      let client: RegistryClient | undefined;
      const getClient = () => (client ??= makeRegistryClient(ctx.env, keychain, inputs.insecureRegistries, ctx.logger));
      try {
        runtime = await setAppImage(inputs, ctx, await createImageStore(inputs.storeKind, { client: getClient, layoutDir: inputs.layoutDir }));
      } catch (err) {
        throw failApp(err);
      }
    }
    const { keychain, daemon } = await ensurePrivileges({
      env: ctx.env,
      images: inputs.daemon ? [] : [inputs.outputImage, ...inputs.tags, inputs.appImage, runtime?.runImageName ?? ""].filter((i) => i !== ""),
      chown: [],
      uid: inputs.uid,
      gid: inputs.gid,
      ...(inputs.daemon ? { daemon: "required" as const } : {}),
    });
    if (!runtime) {
      // contract §2.4 step 5: in daemon mode the app image is read from the daemon after the privilege drop
      const client = makeRegistryClient(ctx.env, keychain, inputs.insecureRegistries, ctx.logger);
      try {
        runtime = await setAppImage(inputs, ctx, await createImageStore(inputs.storeKind, { client: () => client, layoutDir: inputs.layoutDir, daemon }));
      } catch (err) {
        throw failApp(err);
      }
    }
    return runtime;
  },
  async exec(inputs, runtime, ctx) {
    const features = platformFeatures(ctx.api);
    const { store } = runtime;
    let newBase: StoredImage;
    let newBaseReference: string;
    try {
      newBase = await store.openBase(runtime.runImageName, ctx.logger);
      newBaseReference = await newBase.identifier();
    } catch (err) {
      throw failErr(ExitCode.Failed, "access run image", err);
    }
    const fail = (action: string, err: unknown) => new LifecycleError(ExitCode.RebaseError, `failed to ${action}: ${errorMessage(err)}`, { cause: err });
    let saved;
    const names = [inputs.outputImage, ...inputs.tags];
    try {
      const image = await rebase({
        features,
        logger: ctx.logger,
        appImage: runtime.appImage,
        newBase,
        newBaseName: runtime.runImageName,
        newBaseReference,
        force: inputs.force,
      });
      saved = await saveImage(store, image, names, ctx.logger);
    } catch (err) {
      throw fail("rebase", err);
    }
    try {
      await writeReport(inputs.reportPath, { image: { tags: saved.tags, ...saved.result.report } });
    } catch (err) {
      throw fail("write report", err);
    }
  },
};
