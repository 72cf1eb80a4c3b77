// The OCI layout is built in a staging directory next to its destination and swapped in only when
// everything (layout and pushes) succeeded, so a failed build leaves no partial layout behind.
import { mkdir, mkdtemp, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

function isEnoent(err: unknown): boolean {
  return (err as { code?: string } | null)?.code === "ENOENT";
}

/** A staging directory `.<name>-XXXXXX` beside `destination`, removed unless committed. */
export class StagedOutput {
  private constructor(
    readonly destination: string,
    /** The staging directory (work files and the new layout live inside it). */
    readonly dir: string,
  ) {}

  /** Creates the staging directory (and the destination's parent). */
  static async create(destination: string): Promise<StagedOutput> {
    await mkdir(dirname(destination), { recursive: true });
    return new StagedOutput(destination, await mkdtemp(join(dirname(destination), `.${basename(destination)}-`)));
  }

  /** A path inside the staging directory. */
  path(name: string): string {
    return join(this.dir, name);
  }

  /**
   * Replaces the destination with `staged` (a directory inside the staging directory) and removes
   * the staging directory. The old destination is kept until the new one is in place.
   */
  async commit(staged: string): Promise<void> {
    const previous = this.path("previous");
    let moved = false;
    try {
      await rename(this.destination, previous);
      moved = true;
    } catch (err) {
      if (!isEnoent(err)) throw err;
    }
    try {
      await rename(staged, this.destination);
    } catch (err) {
      if (moved) await rename(previous, this.destination).catch(() => undefined);
      throw err;
    }
    await this.discard();
  }

  /** Removes the staging directory and everything in it. */
  async discard(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}
