// `<layers>/<bp>/launch.toml` (contract §3.8): a buildpack's labels, processes and slices.
import { z } from "zod";
import { BomEntrySchema } from "./bom.js";
import { goList } from "./go-fields.js";
import { BuildpackLabelSchema, ProcessSchema, SliceSchema } from "./process.js";
import { parseToml, readToml } from "./toml-io.js";

/** The whole file (`bom` is legacy, Buildpack API < 0.7). */
export const LaunchTomlSchema = z.object({
  bom: goList(BomEntrySchema),
  labels: goList(BuildpackLabelSchema),
  processes: goList(ProcessSchema),
  slices: goList(SliceSchema),
});
/** The content of launch.toml. */
export type LaunchToml = z.output<typeof LaunchTomlSchema>;

/** Parses launch.toml text (`path` names the file in errors). */
export function parseLaunchToml(text: string, path: string): LaunchToml {
  return parseToml(text, LaunchTomlSchema, path);
}

/** Reads launch.toml; throws PlatformFileError (code `ENOENT` when missing). */
export async function readLaunchToml(path: string): Promise<LaunchToml> {
  return readToml(path, LaunchTomlSchema);
}
