// The restorer's side of the restore record: remove the previous build's record first, follow each
// cached layer tar through extraction, and once everything is written take the record: wait for
// the filesystem clock to move (fs-clock.ts), walk each restored layer once (lstat; symlink targets
// read), and keep a layer only when the tar the exporter would write for it is provably the cached
// tar (tar-shape.ts).
import { resolve } from "node:path";
import { setImmediate as yieldNow } from "node:timers/promises";
import { absPath, ancestorEntries, fsEntry } from "../layers/fs-entries.js";
import type { Owner } from "../layers/layer-source.js";
import { pathBytes } from "../layers/tar-entry.js";
import type { Logger } from "../log/logger.js";
import { errorMessage } from "../platform/errors.js";
import { directoryIdentity, fileIdentity, fileIdentityWithHash, sameIdentity, type FileIdentity } from "./file-identity.js";
import { settledMoment } from "./fs-clock.js";
import { printOf, showPath, statLikeOf, walkLayer, type EntryPrint } from "./layer-walk.js";
import { removeRestoreRecord, writeRestoreRecord, type RecordedLayer } from "./record-file.js";
import { TarShapeHasher, ViewShapeHasher } from "./tar-shape.js";

/** Options of {@link RestoreRecorder.start}. */
export interface RecorderOptions {
  readonly layersDir: string;
  /** analyzed.toml, as the restorer rewrote it (the record is bound to it). */
  readonly analyzedPath: string;
  /** The restorer's `-uid`/`-gid` (no record is written without them). */
  readonly owner: Owner | undefined;
  readonly logger: Logger;
  /**
   * Runs after the clock settled and before the layers are walked (tests use it to make changes
   * that share the record's clock step).
   */
  readonly beforeWalk?: () => Promise<void>;
}

/** What extraction reports to the recorder for one layer. */
export interface LayerTrack {
  /** Sees every byte of the uncompressed cached tar (pass as `observe` to extractLayer). */
  readonly observe: (chunk: Buffer) => void;
  /** Call once the layer was extracted and its diffID verified. */
  readonly restored: () => void;
}

interface Tracked {
  readonly dir: string;
  readonly diffId: string;
  readonly shape: TarShapeHasher;
  readonly cacheFile: FileIdentity | undefined;
  done: boolean;
}

/** Longest stretch of synchronous walking before yielding to the event loop. */
const MAX_SYNC_MS = 4;

/** Records which layers the restorer restored, and how they looked right after. */
export class RestoreRecorder {
  private readonly tracked: Tracked[] = [];

  private constructor(private readonly opts: RecorderOptions) {}

  /** Removes any earlier record (a record is only ever trusted for the build that wrote it). */
  static async start(opts: RecorderOptions): Promise<RestoreRecorder> {
    try {
      await removeRestoreRecord(opts.layersDir);
    } catch (err) {
      opts.logger.debug(`Removing the previous restore record: ${errorMessage(err)}`);
    }
    return new RestoreRecorder(opts);
  }

  /** Follows the extraction of the layer `dir` from a tar with `diffId` (read from `cacheFile` for volume caches). */
  track(dir: string, diffId: string, cacheFile: string | undefined): LayerTrack {
    const t: Tracked = { dir: resolve(dir), diffId, shape: new TarShapeHasher(), cacheFile: cacheFile ? fileIdentity(cacheFile) : undefined, done: false };
    this.tracked.push(t);
    return {
      observe: (chunk) => t.shape.update(chunk),
      restored: () => {
        t.done = true;
      },
    };
  }

  /** Takes and writes the record (after every layer was restored); never fails the restore. */
  async finish(): Promise<void> {
    const { logger } = this.opts;
    const restored = this.tracked.filter((t) => t.done);
    const owner = this.opts.owner;
    if (restored.length === 0 || !owner) return;
    try {
      const settled = await settledMoment(this.opts.layersDir);
      if (!settled) {
        logger.debug("Not writing a restore record: the filesystem clock did not move");
        return;
      }
      await this.opts.beforeWalk?.();
      const analyzed = await fileIdentityWithHash(resolve(this.opts.analyzedPath));
      const layersDir = directoryIdentity(this.opts.layersDir);
      if (!analyzed || !layersDir) {
        logger.debug("Not writing a restore record: analyzed.toml or the layers directory cannot be stat'ed");
        return;
      }
      const layers: RecordedLayer[] = [];
      for (const t of restored) {
        const layer = await this.recordLayer(t, settled.dev, owner);
        if (typeof layer === "string") logger.debug(`Restore record: not recording '${t.dir}': ${layer}`);
        else layers.push(layer);
      }
      if (layers.length === 0) return;
      await writeRestoreRecord(this.opts.layersDir, {
        version: 1,
        layersDir: absPath(this.opts.layersDir).toString("latin1"),
        layersDev: layersDir.dev,
        layersIno: layersDir.ino,
        uid: owner.uid,
        gid: owner.gid,
        moment: String(settled.moment),
        analyzed,
        layers,
      });
      logger.debug(`Restore record: ${layers.length} layer(s) recorded`);
    } catch (err) {
      logger.debug(`Not writing a restore record: ${errorMessage(err)}`);
    }
  }

  /** The record of one restored layer, or why it cannot be vouched for. */
  private async recordLayer(t: Tracked, clockDev: bigint, owner: Owner): Promise<RecordedLayer | string> {
    const rawShape = t.shape.digest();
    if (rawShape === undefined) return "the cached tar is not in the form the exporter writes";
    const root = absPath(t.dir);
    const view = new ViewShapeHasher();
    const ancestors = await ancestorEntries(root);
    for (const a of ancestors) view.add(a);
    const entries: EntryPrint[] = [];
    let since = performance.now();
    for (const e of walkLayer(root)) {
      if (e.st.dev !== clockDev) return `'${showPath(e.rel.toString("latin1"))}' is on another filesystem than the layers directory`;
      entries.push(printOf(e));
      const entry = fsEntry(e.path, statLikeOf(e.st), owner);
      if (entry) view.add(entry);
      if (performance.now() - since > MAX_SYNC_MS) {
        await yieldNow();
        since = performance.now();
      }
    }
    if (view.digest() !== rawShape) {
      return "the exporter would not write the cached tar for it (the ancestors' owner or mode, -uid/-gid, or files that were there before differ)";
    }
    const nowCacheFile = t.cacheFile ? fileIdentity(t.cacheFile.path) : undefined;
    const cacheFile = t.cacheFile && nowCacheFile && sameIdentity(t.cacheFile, nowCacheFile) ? t.cacheFile : undefined;
    return {
      dir: root.toString("latin1"),
      diffId: t.diffId,
      ancestors: ancestors.map((a) => [pathBytes(a.name).toString("latin1"), a.type, a.mode, a.uid, a.gid]),
      entries,
      ...(cacheFile ? { cacheFile } : {}),
    };
  }
}
