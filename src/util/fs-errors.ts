// Filesystem error helpers shared by the layers, the cache and the restore record.
import type { Stats } from "node:fs";
import { lstat } from "node:fs/promises";

/** The errno code of a Node system error, if it is one. */
export function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** `lstat(path)`, or `undefined` when nothing is there; every other failure is thrown. */
export async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return undefined;
    throw err;
  }
}
