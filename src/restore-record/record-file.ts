// The restore record: `<layers>/.restore-record.json`, written by the restorer after it restored
// layer data, read by the exporter. It is external data (anything may have written that file), so
// it is parsed with zod, and a file that does not parse is ignored like a missing one.
//
// Paths in it are byte strings (one character per byte, latin1) so that names which are not UTF-8
// survive; bigints (inodes, devices, nanosecond times) are decimal strings.
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { describeZodError } from "../platform/files/zod-issues.js";
import { writeFileAtomic } from "../util/atomic-write.js";
import { readRegularFile } from "../util/regular-file.js";
import { ENTRY_TYPES } from "./layer-walk.js";
import { SHA256_DIGEST, SHA256_HEX } from "../oci/digest.js";

/** The record's file name inside the layers directory (hidden: no buildpack or layer is named so). */
export const RECORD_FILE = ".restore-record.json";

const Decimal = z.string().regex(/^\d+$/);
const Count = z.number().int().nonnegative();
const DiffId = z.string().regex(SHA256_DIGEST);

const Identity = z.object({ path: z.string(), dev: Decimal, ino: Decimal, size: Count, mtime: Decimal, ctime: Decimal });

/** [path, tar type, permission bits, uid, gid] of an ancestor directory entry (stat'ed, as the tar has it). */
const Ancestor = z.tuple([z.string(), z.string(), Count, Count, Count]);

const Print = z.tuple([z.string(), z.enum(ENTRY_TYPES), Count, Count, Count, Count, Count, Decimal, Decimal, Decimal, Decimal, z.string()]);

const RecordedLayer = z.object({
  /** The layer directory (absolute). */
  dir: z.string(),
  /** diffID of the cached tar it was extracted from (verified while extracting). */
  diffId: DiffId,
  ancestors: z.array(Ancestor),
  /** Every entry of the directory (itself first), in archive order. */
  entries: z.array(Print).min(1),
  /** The volume cache's tar the layer came from, as it was when the restorer verified it. */
  cacheFile: Identity.optional(),
});

/** The record as written (version 1). */
export const RestoreRecordSchema = z.object({
  version: z.literal(1),
  /** The layers directory (absolute) and its device and inode. */
  layersDir: z.string(),
  layersDev: Decimal,
  layersIno: Decimal,
  /** `-uid`/`-gid` of the restorer: the owner of every entry inside the layers' tars. */
  uid: Count,
  gid: Count,
  /** The filesystem-clock moment of the record (ns); see fs-clock.ts. */
  moment: Decimal,
  /** analyzed.toml as the restorer left it: binds the record to this build. */
  analyzed: Identity.extend({ sha256: z.string().regex(SHA256_HEX) }),
  layers: z.array(RecordedLayer),
});

/** A parsed restore record. */
export type RestoreRecord = z.infer<typeof RestoreRecordSchema>;
/** One layer of a restore record. */
export type RecordedLayer = z.infer<typeof RecordedLayer>;
/** An ancestor in a restore record. */
export type RecordedAncestor = z.infer<typeof Ancestor>;

/** Path of the record in a layers directory. */
export function recordPath(layersDir: string): string {
  return join(layersDir, RECORD_FILE);
}

/** Reads the record of a layers directory: the record, or why there is none to use. */
export async function readRestoreRecord(layersDir: string): Promise<{ record: RestoreRecord } | { reason: string }> {
  let text: string;
  try {
    // never follows a symlink nor blocks on a FIFO planted there
    text = (await readRegularFile(recordPath(layersDir))).toString("utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { reason: code === "ENOENT" ? "no restore record (no layer was restored from the cache in this build)" : `restore record unreadable (${code ?? "error"})` };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { reason: "restore record ignored: corrupt (not JSON)" };
  }
  const parsed = RestoreRecordSchema.safeParse(json);
  if (!parsed.success) return { reason: `restore record ignored: corrupt (${describeZodError(parsed.error, "object")})` };
  return { record: parsed.data };
}

/** Writes the record atomically. */
export async function writeRestoreRecord(layersDir: string, record: RestoreRecord): Promise<void> {
  await writeFileAtomic(recordPath(layersDir), `${JSON.stringify(record)}\n`);
}

/** Deletes the record of a layers directory, if any. */
export async function removeRestoreRecord(layersDir: string): Promise<void> {
  await rm(recordPath(layersDir), { force: true });
}
