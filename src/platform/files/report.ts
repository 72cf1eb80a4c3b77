// report.toml (contract §3.7): written by the exporter and the rebaser; kpack reads the digest.
import { z } from "zod";
import { BomEntrySchema, bomEntryToToml } from "./bom.js";
import { compact, goList, goOptional, goStringList, goStruct, optString } from "./go-fields.js";
import { parseToml, readToml, stringifyToml, writeToml } from "./toml-io.js";

/** `[image]`: saved tags, and the manifest digest and size (registry) or the image ID (daemon). */
export const ImageReportSchema = z
  .object({
    tags: goStringList,
    "image-id": optString,
    digest: optString,
    "manifest-size": goOptional(z.number().int()),
  })
  .transform((raw) => ({
    tags: raw.tags,
    ...(raw["image-id"] !== undefined ? { imageId: raw["image-id"] } : {}),
    ...(raw.digest !== undefined ? { digest: raw.digest } : {}),
    ...(raw["manifest-size"] !== undefined ? { manifestSize: raw["manifest-size"] } : {}),
  }));
/** The `[image]` table of report.toml. */
export type ImageReport = z.output<typeof ImageReportSchema>;

/** The whole file; `build.bom` only exists for Platform API < 0.9. */
export const ReportSchema = z.object({
  image: goStruct(ImageReportSchema),
  build: goOptional(z.object({ bom: goList(BomEntrySchema) })),
});
/** The content of report.toml. */
export type Report = z.output<typeof ReportSchema>;

/** The TOML table: `[build]` only with a non-empty bom; empty ids/digests and a zero size omitted. */
export function reportToToml(r: Report): Record<string, unknown> {
  const bom = r.build?.bom ?? [];
  return compact({
    build: bom.length > 0 ? { bom: bom.map(bomEntryToToml) } : undefined,
    image: compact({
      tags: r.image.tags,
      "image-id": r.image.imageId || undefined,
      digest: r.image.digest || undefined,
      "manifest-size": r.image.manifestSize || undefined,
    }),
  });
}

/** Serialises report.toml. */
export function stringifyReport(r: Report): string {
  return stringifyToml(reportToToml(r));
}

/** Parses report.toml text (`path` names the file in errors). */
export function parseReport(text: string, path: string): Report {
  return parseToml(text, ReportSchema, path);
}

/** Reads report.toml; throws PlatformFileError (code `ENOENT` when missing). */
export async function readReport(path: string): Promise<Report> {
  return readToml(path, ReportSchema);
}

/** Writes report.toml atomically. */
export async function writeReport(path: string, r: Report): Promise<void> {
  await writeToml(path, reportToToml(r));
}
