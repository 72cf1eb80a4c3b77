// `<layers>/config/metadata.toml` (contract §3.9): the builder's output, read by the exporter.
import { z } from "zod";
import { BomEntrySchema } from "./bom.js";
import { goList, optString } from "./go-fields.js";
import { GroupElementSchema } from "./group.js";
import { BuildpackLabelSchema, ProcessSchema, SliceSchema } from "./process.js";
import { parseToml, readToml } from "./toml-io.js";

/** The whole file; `bom` is legacy (Platform API < 0.9). */
export const BuildMetadataSchema = z
  .object({
    bom: goList(BomEntrySchema),
    buildpacks: goList(GroupElementSchema),
    extensions: goList(GroupElementSchema),
    labels: goList(BuildpackLabelSchema),
    processes: goList(ProcessSchema),
    slices: goList(SliceSchema),
    "buildpack-default-process-type": optString,
  })
  .transform(({ "buildpack-default-process-type": defaultType, ...rest }) => ({
    ...rest,
    ...(defaultType !== undefined ? { buildpackDefaultProcessType: defaultType } : {}),
  }));
/** The content of `config/metadata.toml`. */
export type BuildMetadata = z.output<typeof BuildMetadataSchema>;

/** Parses metadata.toml text (`path` names the file in errors). */
export function parseBuildMetadata(text: string, path: string): BuildMetadata {
  return parseToml(text, BuildMetadataSchema, path);
}

/** Reads `<layers>/config/metadata.toml`; throws PlatformFileError (code `ENOENT` when missing). */
export async function readBuildMetadata(path: string): Promise<BuildMetadata> {
  return readToml(path, BuildMetadataSchema);
}
