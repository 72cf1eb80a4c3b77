// The exporter's temp directory (`$TMPDIR/cnb-export-XXXXXX`: layer blobs and tars) and the
// cleanup of those that exporters killed with SIGKILL left behind. Each directory gets an owner
// file naming its process (util/process-identity.ts) before it appears under its final name (it
// is made as `.cnb-export-XXXXXX`, then renamed), so a kill at any moment leaves either a hidden
// directory (removed a minute later) or one with an owner. When an export starts, directories
// whose owner is known to be dead are removed, and so are those whose owner cannot be checked
// (another PID namespace, or no owner file: a full disk, an older lifecycle) once untouched for a day.
import { randomBytes } from "node:crypto";
import { lstat, mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Logger } from "../../log/logger.js";
import { errorMessage, LifecycleError } from "../../platform/errors.js";
import { ExitCode } from "../../platform/exit-codes.js";
import { currentProcessIdentity, parseProcessIdentity, processState } from "../../util/process-identity.js";

/** Prefix of the exporter's temp directories. */
export const EXPORT_TEMP_PREFIX = "cnb-export-";
/** The owner file inside each. */
export const OWNER_FILE = ".owner";
/** Age after which a temp dir of an owner that cannot be checked counts as abandoned. */
export const ABANDONED_AFTER_MS = 24 * 60 * 60 * 1000;
/** Age after which a hidden temp dir (killed before it got its final name) is removed. */
export const HIDDEN_ABANDONED_AFTER_MS = 60 * 1000;

const NAME = /^\.?cnb-export-[A-Za-z0-9]{6}$/;
const SUFFIX_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/**
 * Creates this export's temp directory under `parent` (default `os.tmpdir()`), with its owner file,
 * after removing stale ones (see the file comment). Cleanup problems are only logged; a full disk
 * that has no room for the owner file only costs the early cleanup of this directory. Failing to
 * create the directory is an export failure (exit 62).
 */
export async function createExportTempDir(logger: Logger, parent: string = tmpdir()): Promise<string> {
  await removeStaleExportDirs(parent, logger);
  try {
    for (;;) {
      const name = `${EXPORT_TEMP_PREFIX}${randomSuffix()}`;
      const hidden = join(parent, `.${name}`);
      try {
        await mkdir(hidden, { mode: 0o700 });
      } catch (err) {
        if ((err as { code?: unknown }).code === "EEXIST") continue;
        throw err;
      }
      try {
        await writeFile(join(hidden, OWNER_FILE), `${JSON.stringify(currentProcessIdentity())}\n`);
      } catch (err) {
        await rm(join(hidden, OWNER_FILE), { force: true }).catch(() => undefined);
        logger.debug(`No owner file for ${name}: ${errorMessage(err)}`);
      }
      const dir = join(parent, name);
      if ((await lstat(dir).catch(() => undefined)) === undefined) {
        await rename(hidden, dir);
        return dir;
      }
      await rm(hidden, { recursive: true, force: true });
    }
  } catch (err) {
    throw new LifecycleError(ExitCode.ExportError, `failed to export: creating a temp directory in ${parent}: ${errorMessage(err)}`, { cause: err });
  }
}

function randomSuffix(): string {
  return [...randomBytes(6)].map((b) => SUFFIX_CHARS[b % SUFFIX_CHARS.length]).join("");
}

/** Removes the exporter temp dirs in `parent` left by dead exporters; returns the names removed. */
export async function removeStaleExportDirs(parent: string, logger: Logger): Promise<string[]> {
  let names: string[];
  try {
    names = (await readdir(parent)).filter((n) => NAME.test(n));
  } catch {
    return [];
  }
  const self = currentProcessIdentity();
  const uid = process.getuid?.();
  const removed: string[] = [];
  for (const name of names) {
    const dir = join(parent, name);
    try {
      const st = await lstat(dir);
      if (!st.isDirectory() || (uid !== undefined && st.uid !== uid)) continue;
      const owner = parseProcessIdentity(await readFile(join(dir, OWNER_FILE), "utf8").catch(() => ""));
      const state = owner ? processState(owner, self) : "unknown";
      const age = Date.now() - st.mtimeMs;
      const abandoned = state === "dead" || (state === "unknown" && age > (name.startsWith(".") ? HIDDEN_ABANDONED_AFTER_MS : ABANDONED_AFTER_MS));
      if (!abandoned) continue;
      await rm(dir, { recursive: true, force: true });
      removed.push(name);
      logger.debug(`Removed ${dir}, left by ${owner ? `exporter pid ${owner.pid}, which is gone` : "an exporter a day ago or more"}`);
    } catch (err) {
      logger.debug(`Not removing ${dir}: ${errorMessage(err)}`);
    }
  }
  return removed;
}
