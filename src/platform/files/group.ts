// group.toml (contract §3.4): the buildpacks (and image extensions) selected by the detector.
import { z } from "zod";
import { compact, goBool, goList, goString, optString } from "./go-fields.js";
import { parseToml, readToml, stringifyToml, writeToml } from "./toml-io.js";

/** A buildpack or extension reference: `id`, `version`, `api`, optional `homepage` and `optional`. */
export const GroupElementSchema = z.object({
  id: goString,
  version: goString,
  api: goString,
  homepage: optString,
  optional: goBool,
});
/** A buildpack or extension in group.toml, order.toml or metadata.toml. */
export type GroupElement = z.output<typeof GroupElementSchema>;

/** The whole file: `[[group]]` in buildpack order and `[[group-extensions]]`. */
export const GroupTomlSchema = z
  .object({ group: goList(GroupElementSchema), "group-extensions": goList(GroupElementSchema) })
  .transform((raw) => ({ group: raw.group, groupExtensions: raw["group-extensions"] }));
/** The content of group.toml. */
export type GroupToml = z.output<typeof GroupTomlSchema>;

/** The TOML table of a group element (empty `api`/`homepage` and false `optional` omitted). */
export function groupElementToToml(el: GroupElement): Record<string, unknown> {
  return compact({
    id: el.id,
    version: el.version,
    api: el.api || undefined,
    homepage: el.homepage || undefined,
    optional: el.optional || undefined,
  });
}

/** Serialises group.toml (`[[group-extensions]]` only when there are extensions). */
export function stringifyGroupToml(g: GroupToml): string {
  return stringifyToml(groupTomlTable(g));
}

function groupTomlTable(g: GroupToml): Record<string, unknown> {
  return compact({
    group: g.group.map(groupElementToToml),
    "group-extensions": g.groupExtensions.length > 0 ? g.groupExtensions.map(groupElementToToml) : undefined,
  });
}

/** Parses group.toml text (`path` names the file in errors). */
export function parseGroupToml(text: string, path: string): GroupToml {
  return parseToml(text, GroupTomlSchema, path);
}

/** Reads group.toml; throws PlatformFileError (code `ENOENT` when missing). */
export async function readGroupToml(path: string): Promise<GroupToml> {
  return readToml(path, GroupTomlSchema);
}

/** Writes group.toml atomically. */
export async function writeGroupToml(path: string, g: GroupToml): Promise<void> {
  await writeToml(path, groupTomlTable(g));
}
