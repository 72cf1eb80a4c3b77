import { join } from "node:path";
import { z } from "zod";
import { BomEntrySchema, type BomEntry } from "../../platform/files/bom.js";
import type { GroupElement } from "../../platform/files/group.js";
import { readOptionalToml } from "../../platform/files/toml-io.js";
import { buildpackDirName } from "../../platform/files/layer-names.js";

const BuildTomlSchema = z.object({ bom: z.array(BomEntrySchema).nullish().transform((v) => v ?? []) }).loose();

/**
 * The legacy build bill of materials for report.toml (Platform API < 0.9): every buildpack's
 * `<layers>/<bp>/build.toml` `[[bom]]` entries in group order, each tagged with its buildpack.
 */
export async function buildBom(layersDir: string, group: readonly GroupElement[]): Promise<BomEntry[]> {
  const entries: BomEntry[] = [];
  for (const bp of group) {
    const file = await readOptionalToml(join(layersDir, buildpackDirName(bp.id), "build.toml"), BuildTomlSchema);
    for (const entry of file?.bom ?? []) entries.push({ ...entry, buildpack: bp });
  }
  return entries;
}
