// The layers the lifecycle itself contributes: the launcher and the process-type symlinks.
import { stat } from "node:fs/promises";
import type { LayerSource } from "./layer-source.js";
import { cleanPath } from "./tar-header.js";
import type { TarEntry } from "./tar-entry.js";

/** Where the launcher lives in the image. */
export const LAUNCHER_PATH = "/cnb/lifecycle/launcher";
/** Directory of the process-type symlinks. */
export const PROCESS_DIR = "/cnb/process";

const FORBIDDEN_TYPE_CHARACTERS = "/><:|&\\";

/** A process type that cannot become `/cnb/process/<type>` (the exporter exits 62 on it). */
export class InvalidProcessTypeError extends Error {
  readonly code = "INVALID_PROCESS_TYPE";

  constructor(
    readonly processType: string,
    message: string,
  ) {
    super(message);
    this.name = "InvalidProcessTypeError";
  }
}

/** A root-owned 0755 directory entry (Go `rootOwnedDir`). */
function rootDir(name: string): TarEntry {
  return { name, type: "dir", mode: 0o755, uid: 0, gid: 0 };
}

/** Checks a process type as Go's `ProcessTypesLayer` does; throws {@link InvalidProcessTypeError}. */
export function validateProcessType(type: string): void {
  if (type.length === 0) throw new InvalidProcessTypeError(type, "type is required for all processes");
  if ([...FORBIDDEN_TYPE_CHARACTERS].some((c) => type.includes(c))) {
    throw new InvalidProcessTypeError(
      type,
      `invalid process type '${type}': type may not contain characters '${FORBIDDEN_TYPE_CHARACTERS}'`,
    );
  }
}

/**
 * The launcher layer: `/cnb`, `/cnb/lifecycle` (0755, 0:0) and `/cnb/lifecycle/launcher` (0755,
 * 0:0) with the content of `launcherPath` (symlinks followed). A missing launcher fails when the
 * entries are listed, with Go's message.
 */
export function launcherLayerSource(launcherPath: string): LayerSource {
  return {
    async *entries(): AsyncGenerator<TarEntry, void, undefined> {
      let size: number;
      try {
        size = (await stat(launcherPath)).size;
      } catch (err) {
        throw new Error(`failed to stat launcher at path '${launcherPath}': ${(err as Error).message}`, { cause: err });
      }
      yield rootDir("/cnb");
      yield rootDir("/cnb/lifecycle");
      yield { name: LAUNCHER_PATH, type: "file", mode: 0o755, uid: 0, gid: 0, size, source: launcherPath };
    },
  };
}

/**
 * The process-types layer: `/cnb`, `/cnb/process` (0755, 0:0) then one symlink per type
 * `/cnb/process/<type>` → `/cnb/lifecycle/launcher` (0755, 0:0), in the given order. Validates the
 * types up front (see {@link validateProcessType}).
 */
export function processTypesLayerSource(types: readonly string[]): LayerSource {
  for (const t of types) validateProcessType(t);
  const entries: TarEntry[] = [rootDir("/cnb"), rootDir(PROCESS_DIR)];
  for (const t of types) {
    // Go joins with filepath.Join, which cleans the result.
    entries.push({ name: cleanPath(`${PROCESS_DIR}/${t}`), type: "symlink", mode: 0o755, uid: 0, gid: 0, linkname: LAUNCHER_PATH });
  }
  return { entries: () => entries };
}
