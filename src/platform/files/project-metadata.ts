// project-metadata.toml (contract §3.6) and the `io.buildpacks.project.metadata` label made from it.
import { z } from "zod";
import { goOptional, goString, goTable } from "./go-fields.js";
import { GoAny, goJsonMarshal } from "./go-json.js";
import { parseToml, readOptionalToml, readToml } from "./toml-io.js";

/** Name of the label holding the project metadata. */
export const PROJECT_METADATA_LABEL = "io.buildpacks.project.metadata";

/** `[source]`: the kind of source (`git`, …) and free-form `version` and `metadata` tables. */
export const ProjectSourceSchema = z.object({ type: goString, version: goTable, metadata: goTable });
/** The `[source]` table of project-metadata.toml. */
export type ProjectSource = z.output<typeof ProjectSourceSchema>;

/** The whole file. */
export const ProjectMetadataSchema = z.object({ source: goOptional(ProjectSourceSchema) });
/** The content of project-metadata.toml. */
export type ProjectMetadata = z.output<typeof ProjectMetadataSchema>;

/**
 * The label value: `{}` without a source; `type`, `version`, `metadata` omitted when empty; table
 * keys sorted (Go encoding/json).
 */
export function projectMetadataToLabel(pm: ProjectMetadata | undefined): string {
  const source = pm?.source;
  if (!source) return "{}";
  return goJsonMarshal({
    source: {
      type: source.type || undefined,
      version: Object.keys(source.version).length > 0 ? new GoAny(source.version) : undefined,
      metadata: Object.keys(source.metadata).length > 0 ? new GoAny(source.metadata) : undefined,
    },
  });
}

/** Parses project-metadata.toml text (`path` names the file in errors). */
export function parseProjectMetadata(text: string, path: string): ProjectMetadata {
  return parseToml(text, ProjectMetadataSchema, path);
}

/** Reads project-metadata.toml; throws PlatformFileError (code `ENOENT` when missing). */
export async function readProjectMetadata(path: string): Promise<ProjectMetadata> {
  return readToml(path, ProjectMetadataSchema);
}

/** Reads project-metadata.toml, or undefined when the file does not exist (the label is then `{}`). */
export async function readProjectMetadataIfExists(path: string): Promise<ProjectMetadata | undefined> {
  return readOptionalToml(path, ProjectMetadataSchema);
}
