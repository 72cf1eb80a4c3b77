// Putting a volume cache back into a consistent state after a process died in the middle of a
// commit (contract §5.3). A commit is three steps, each atomic:
//
//   1. rename committed/ → committed-backup/
//   2. rename staging/   → committed/
//   3. delete committed-backup/
//
// so a crash leaves one of these states, and recovery (run under the cache lock, so never while a
// live process commits) turns each into a whole cache, never deleting the only copy:
//
//   committed/ missing, staging/ complete      → crash after 1: finish the commit (staging → committed)
//   committed/ missing, staging/ not complete  → crash after 1 with a damaged staging (or a foreign
//                                                 tool's state): put the backup back
//   committed/ present, committed-backup/ left → crash during or after 2/3: delete the backup
//
// "Complete" is decided from staging's own content, not from a marker: the metadata file is written
// last (atomically, by rename) before a commit starts, so a staging is complete when it has a
// metadata file that parses and every layer tar that metadata names (buildpack layer SHAs and the
// SBOM layer SHA) is a regular file in staging. A staging that an exporter was still filling when
// it was killed has no metadata file yet and is never promoted.
import { lstat, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { parseCacheMetadataLenient } from "../platform/files/cache-metadata.js";
import { readRegularFile } from "../util/regular-file.js";
import { isSha256Digest } from "../oci/digest.js";

/** The directories of a volume cache. */
export interface VolumeCacheDirs {
  readonly committedDir: string;
  readonly stagingDir: string;
  readonly backupDir: string;
  /** Name of the metadata file in committed/ and staging/. */
  readonly metadataFile: string;
}


async function isDirectory(path: string): Promise<boolean> {
  return lstat(path).then(
    (st) => st.isDirectory(),
    () => false,
  );
}

async function isRegularFile(path: string): Promise<boolean> {
  return lstat(path).then(
    (st) => st.isFile(),
    () => false,
  );
}

/** Whether `dir` holds a whole cache: a metadata file and every layer tar it names (see the file comment). */
export async function isCompleteCache(dir: string, metadataFile: string): Promise<boolean> {
  let text: string;
  try {
    text = (await readRegularFile(join(dir, metadataFile))).toString("utf8");
    JSON.parse(text);
  } catch {
    return false;
  }
  const md = parseCacheMetadataLenient(text);
  const shas = [md.sbom.sha, ...md.buildpacks.flatMap((bp) => Object.values(bp.layers).map((l) => l.sha))].filter((s) => s !== "");
  for (const sha of shas) {
    if (!isSha256Digest(sha) || !(await isRegularFile(join(dir, `${sha}.tar`)))) return false;
  }
  return true;
}

/**
 * Recovers from a commit interrupted by a crash (see the file comment); returns what it did, as
 * sentences for the log (none when the cache was consistent). Call it only while holding the lock.
 */
export async function recoverInterruptedCommit(dirs: VolumeCacheDirs): Promise<string[]> {
  const notes: string[] = [];
  if (!(await isDirectory(dirs.committedDir))) {
    if (await isCompleteCache(dirs.stagingDir, dirs.metadataFile)) {
      await rename(dirs.stagingDir, dirs.committedDir);
      notes.push(`Recovered the cache after an interrupted commit: completed it with the new cache from ${dirs.stagingDir}`);
    } else if (await isDirectory(dirs.backupDir)) {
      await rename(dirs.backupDir, dirs.committedDir);
      notes.push(`Recovered the cache after an interrupted commit: restored the previous cache from ${dirs.backupDir}`);
    }
  }
  if ((await isDirectory(dirs.committedDir)) && (await lstat(dirs.backupDir).then(() => true, () => false))) {
    await rm(dirs.backupDir, { recursive: true, force: true });
  }
  return notes;
}
