import { LayoutImageHandler, type SourceImage } from "../image/handler.js";
import { openRemoteImage } from "../image/open-remote.js";
import { RemoteImage } from "../image/remote-image.js";
import { rebase } from "../phase/rebaser.js";
import { errorMessage, LifecycleError } from "../platform/errors.js";
import { ExitCode } from "../platform/exit-codes.js";
import { guardExperimental } from "../platform/experimental.js";
import { platformFeatures } from "../platform/features.js";
import { LIFECYCLE_METADATA_LABEL, parseLifecycleMetadataLabelCompat } from "../platform/files/lifecycle-metadata.js";
import { writeReport } from "../platform/files/report.js";
import { substituteLayers, validateReferences, validateSameRegistry } from "../platform/inputs.js";
import { selectRunImage } from "../platform/run-image-selection.js";
import { checkReadAccess } from "../registry/access.js";
import type { RegistryClient } from "../registry/client.js";
import { DefaultKeychain } from "../registry/keychain.js";
import { Reference } from "../registry/reference.js";
import { NO_RETRY } from "../registry/retry.js";
import { imageArgs, type CommandContext, type PhaseCommand } from "./command.js";
import { F } from "./flag-specs.js";
import { flagBool, flagInt, flagString, flagStrings } from "./go-flags.js";
import { ensurePrivileges } from "./privileges.js";
import { saveImage, type ImageSink } from "./save-image.js";
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
  readonly layout: boolean;
  readonly layoutDir: string;
  readonly reportPath: string;
  readonly insecureRegistries: readonly string[];
  readonly uid: number;
  readonly gid: number;
}

/** What Exec needs: the client, the app image read before privileges were dropped, the chosen run image. */
interface RebaserRuntime {
  readonly client: RegistryClient | undefined;
  readonly appImage: SourceImage;
  readonly runImageName: string;
}

function failApp(err: unknown): LifecycleError {
  return new LifecycleError(ExitCode.RebaseError, `failed to set app image: ${errorMessage(err)}`, { cause: err });
}

/** Contract §2.4 step 3: open the app image and, without an explicit run image, pick one from its label. */
async function setAppImage(inputs: RebaserInputs, ctx: CommandContext, client: RegistryClient | undefined): Promise<RebaserRuntime> {
  const features = platformFeatures(ctx.api);
  const layouts = inputs.layout ? new LayoutImageHandler(inputs.layoutDir) : undefined;
  const appImage: SourceImage = layouts ? layouts.open(inputs.appImage) : new RemoteImage(requireClient(client), Reference.parse(inputs.appImage));
  if (!(await appImage.exists())) throw new Error("failed to access image to rebase");
  if (inputs.runImage !== "") return { client, appImage, runImageName: inputs.runImage };
  const label = (await appImage.config()).config.config?.Labels?.[LIFECYCLE_METADATA_LABEL] ?? "";
  const md = parseLifecycleMetadataLabelCompat(label);
  const fromLabel = features.rebaserChecksRunImageName && md.runImage.image ? md.runImage : md.stack?.runImage;
  if (!fromLabel?.image) throw new Error("-run-image is required when there is no run image metadata available");
  const probe = layouts
    ? () => Promise.resolve({ readable: true })
    : async (ref: string) => {
        const r = await checkReadAccess(requireClient(client), Reference.parse(ref));
        return { readable: r.ok, reason: r.error?.message };
      };
  const runImageName = await selectRunImage(
    { image: fromLabel.image, mirrors: fromLabel.mirrors ?? [] },
    Reference.tryParse(inputs.appImage)?.registry,
    probe,
    ctx.logger,
  );
  return { client, appImage, runImageName };
}

function requireClient(client: RegistryClient | undefined): RegistryClient {
  if (!client) throw new Error("no registry client");
  return client;
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
      layout: flagBool(f, "layout"),
      layoutDir: flagString(f, "layout-dir"),
      reportPath: substituteLayers(flagString(f, "report"), layersDir),
      insecureRegistries: flagStrings(f, "insecure-registry"),
      uid: flagInt(f, "uid"),
      gid: flagInt(f, "gid"),
    };
    validateReferences([outputImage, ...tags, inputs.appImage, runImage]);
    if (!inputs.daemon) validateSameRegistry([outputImage, ...tags]);
    if (inputs.layout) {
      guardExperimental("export to OCI layout format", ctx.env, ctx.logger);
      if (inputs.layoutDir === "") throw fail("-layout-dir is required when -layout is set");
    }
    return inputs;
  },
  async privileges(inputs, ctx) {
    let client: RegistryClient | undefined;
    let runtime: RebaserRuntime | undefined;
    if (!inputs.daemon) {
      // contract §2.4 step 3: the app image is read before privileges are dropped
      let keychain: DefaultKeychain;
      try {
        keychain = new DefaultKeychain({ env: ctx.env });
      } catch (err) {
        throw failApp(err);
      }
      client = inputs.layout ? undefined : makeRegistryClient(ctx.env, keychain, inputs.insecureRegistries, ctx.logger);
      try {
        runtime = await setAppImage(inputs, ctx, client);
      } catch (err) {
        throw failApp(err);
      }
    }
    await ensurePrivileges({
      env: ctx.env,
      images: inputs.daemon ? [] : [inputs.outputImage, ...inputs.tags, inputs.appImage, runtime?.runImageName ?? ""].filter((i) => i !== ""),
      chown: [],
      uid: inputs.uid,
      gid: inputs.gid,
      daemon: inputs.daemon,
    });
    if (!runtime) throw failApp(new Error("no app image"));
    return runtime;
  },
  async exec(inputs, runtime, ctx) {
    const features = platformFeatures(ctx.api);
    let newBase: SourceImage;
    let newBaseReference: string;
    try {
      if (inputs.layout) {
        const image = new LayoutImageHandler(inputs.layoutDir).open(runtime.runImageName);
        if (!(await image.exists())) throw new Error(`image '${runtime.runImageName}' not found`);
        newBase = image;
      } else {
        const client = requireClient(runtime.client);
        const ref = Reference.parse(runtime.runImageName);
        newBase = await openRemoteImage(() => new RemoteImage(client, ref, { retry: NO_RETRY }), ctx.logger);
      }
      newBaseReference = await newBase.digestReference();
    } catch (err) {
      throw new LifecycleError(ExitCode.Failed, `failed to access run image: ${errorMessage(err)}`, { cause: err });
    }
    const fail = (action: string, err: unknown) => new LifecycleError(ExitCode.RebaseError, `failed to ${action}: ${errorMessage(err)}`, { cause: err });
    let digest: string;
    let size: number;
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
      const sink: ImageSink = inputs.layout ? { kind: "layout", layoutDir: inputs.layoutDir } : { kind: "registry", client: requireClient(runtime.client) };
      ({ digest, size } = await saveImage(image, names, sink, ctx.logger));
    } catch (err) {
      throw fail("rebase", err);
    }
    try {
      await writeReport(inputs.reportPath, { image: { tags: names, digest, manifestSize: size } });
    } catch (err) {
      throw fail("write report", err);
    }
  },
};
