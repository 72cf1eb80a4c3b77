// run.toml (contract §3.2, Platform API ≥0.12): the run images the platform allows, with mirrors.
import { z } from "zod";
import { goList, goString, goStringList } from "./go-fields.js";
import { parseToml, readOptionalToml } from "./toml-io.js";

/** One `[[images]]` entry: primary image and its mirrors (`image` may be "", entries may repeat). */
export const RunImageEntrySchema = z.object({ image: goString, mirrors: goStringList });
/** One `[[images]]` entry of run.toml. */
export type RunImageEntry = z.output<typeof RunImageEntrySchema>;

/** The whole file; entries are kept in file order, unfiltered (pack writes empty and duplicate ones). */
export const RunTomlSchema = z.object({ images: goList(RunImageEntrySchema) });
/** The content of run.toml. */
export type RunToml = z.output<typeof RunTomlSchema>;

/** Parses run.toml text (`path` names the file in errors). */
export function parseRunToml(text: string, path: string): RunToml {
  return parseToml(text, RunTomlSchema, path);
}

/** Reads run.toml, or undefined when the file does not exist (Go: "No run metadata found"). */
export async function readRunTomlIfExists(path: string): Promise<RunToml | undefined> {
  return readOptionalToml(path, RunTomlSchema);
}
