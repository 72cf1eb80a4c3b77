import { mkdtemp, rm } from "node:fs/promises";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { onProcessExit } from "./safety-net.js";

/** A temporary directory owned by the harness; removed by `remove()` or at process exit. */
export interface TempDir {
  readonly path: string;
  remove(): Promise<void>;
}

/** Creates a tracked temporary directory named `cnb-harness-<prefix>-XXXXXX`. */
export async function makeTempDir(prefix: string): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), `cnb-harness-${prefix}-`));
  const unregister = onProcessExit(() => rmSync(path, { recursive: true, force: true }));
  let removed: Promise<void> | undefined;
  return {
    path,
    remove() {
      removed ??= rm(path, { recursive: true, force: true }).finally(unregister);
      return removed;
    },
  };
}
