// Legacy bill-of-materials entries (`[[bom]]`, Buildpack API < 0.7 / Platform API < 0.9).
import { z } from "zod";
import { compact, goOptional, goString, optString, optTable } from "./go-fields.js";
import { GoAny } from "./go-json.js";
import type { GoStruct } from "./go-json.js";
import { GroupElementSchema } from "./group.js";

/** One BOM entry: `name`, optional `version`, free-form `metadata`, and the contributing buildpack. */
export const BomEntrySchema = z.object({
  name: goString,
  version: optString,
  metadata: optTable,
  buildpack: goOptional(GroupElementSchema),
});
/** One legacy BOM entry. */
export type BomEntry = z.output<typeof BomEntrySchema>;

/** The Go JSON shape of a BOM entry (name, version?, metadata, buildpack{id, version, homepage?, optional?}). */
export function bomEntryToGoJson(e: BomEntry): GoStruct {
  const bp = e.buildpack;
  return {
    name: e.name,
    version: e.version || undefined,
    metadata: new GoAny(e.metadata ?? null),
    buildpack: {
      id: bp?.id ?? "",
      version: bp?.version ?? "",
      homepage: bp?.homepage || undefined,
      optional: bp?.optional || undefined,
    },
  };
}

/** The TOML table of a BOM entry. */
export function bomEntryToToml(e: BomEntry): Record<string, unknown> {
  const bp = e.buildpack;
  return compact({
    name: e.name,
    version: e.version || undefined,
    metadata: e.metadata,
    buildpack: bp
      ? compact({ id: bp.id, version: bp.version, api: bp.api || undefined, homepage: bp.homepage || undefined })
      : undefined,
  });
}
