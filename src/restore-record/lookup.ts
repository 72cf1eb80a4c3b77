// The exporter's side of the restore record: for a directory layer, the diffID the restorer recorded
// when the record is this build's and the directory is exactly as restored, else why not (the
// exporter logs both at -log-level debug). The record as a whole is trusted only when it was written for this layers
// directory (path, device, inode), this -uid/-gid and this build (analyzed.toml exactly as the
// restorer left it: path, device, inode, size, mtime, ctime, contents).
import { resolve } from "node:path";
import { absPath } from "../layers/fs-entries.js";
import type { LayerSource, Owner } from "../layers/layer-source.js";
import type { Logger } from "../log/logger.js";
import { errorMessage } from "../platform/errors.js";
import { directoryIdentity, fileIdentity, fileIdentityWithHash, sameIdentity } from "./file-identity.js";
import { checkLayer } from "./layer-check.js";
import { readRestoreRecord, type RecordedLayer, type RestoreRecord } from "./record-file.js";

/** What the record says about one layer. */
export type RecordVerdict =
  /** The layer is as restored: this is its diffID, no file was read. */
  | { readonly kind: "recorded"; readonly diffId: string }
  /** The layer differs from what was restored: it must be read (and most likely changed). */
  | { readonly kind: "changed"; readonly reason: string }
  /** Nothing is known: no usable record, or a racy entry; the layer must be read. */
  | { readonly kind: "unknown"; readonly reason: string };

/** Where an exporter looks up recorded diffIDs (the seam LayerFactory and the cache step use). */
export interface RecordLookup {
  /** The verdict for a layer source; undefined when it is not a directory layer. */
  verdict(source: LayerSource): Promise<RecordVerdict> | undefined;
  /** Whether the restorer verified the volume cache's tar `path` of `diffId` in this build and it is unchanged since. */
  vouchesForCacheFile(id: string, diffId: string, path: string): Promise<boolean>;
}

/** Options of {@link RestoreRecordLookup}. */
export interface RestoreRecordLookupOptions {
  readonly layersDir: string;
  /** The exporter's analyzed.toml. */
  readonly analyzedPath: string;
  /** The exporter's `-uid`/`-gid`. */
  readonly owner: Owner;
  readonly logger: Logger;
}

type Loaded = { readonly record: RestoreRecord; readonly moment: bigint; readonly byDir: ReadonlyMap<string, RecordedLayer> } | { readonly reason: string };

/** Reads the layers directory's restore record once and answers per layer. */
export class RestoreRecordLookup implements RecordLookup {
  private loaded: Promise<Loaded> | undefined;
  private readonly verdicts = new Map<string, Promise<RecordVerdict>>();

  constructor(private readonly opts: RestoreRecordLookupOptions) {}

  verdict(source: LayerSource): Promise<RecordVerdict> | undefined {
    const dir = source.directory;
    if (!dir) return undefined;
    const key = `${dir.owner.uid}:${dir.owner.gid}:${dir.path}`;
    let pending = this.verdicts.get(key);
    if (!pending) {
      pending = this.decide(dir.path, dir.owner);
      this.verdicts.set(key, pending);
    }
    return pending;
  }

  async vouchesForCacheFile(id: string, diffId: string, path: string): Promise<boolean> {
    const loaded = await this.load();
    if ("reason" in loaded) return false;
    const file = resolve(path);
    for (const layer of loaded.record.layers) {
      const recorded = layer.cacheFile;
      if (layer.diffId !== diffId || recorded?.path !== file) continue;
      const now = fileIdentity(file);
      if (now && sameIdentity(recorded, now) && BigInt(recorded.ctime) < loaded.moment) {
        this.opts.logger.debug(`Cache layer '${id}': not verified again, the restorer verified ${file} in this build and it is unchanged`);
        return true;
      }
    }
    return false;
  }

  private async decide(path: string, owner: Owner): Promise<RecordVerdict> {
    const loaded = await this.load();
    if ("reason" in loaded) return { kind: "unknown", reason: loaded.reason };
    const { record } = loaded;
    if (owner.uid !== record.uid || owner.gid !== record.gid) {
      return { kind: "unknown", reason: `restore record ignored: written for -uid/-gid ${record.uid}:${record.gid}, the layer is exported with ${owner.uid}:${owner.gid}` };
    }
    const root = absPath(path);
    const layer = loaded.byDir.get(root.toString("latin1"));
    if (!layer) return { kind: "unknown", reason: "not restored from the cache in this build" };
    try {
      const check = await checkLayer(layer, loaded.moment, root);
      if (check.kind === "unchanged") return { kind: "recorded", diffId: layer.diffId };
      if (check.kind === "racy") return { kind: "unknown", reason: check.reason };
      return { kind: "changed", reason: `changed since the restore: ${check.reason}` };
    } catch (err) {
      return { kind: "unknown", reason: `checking the restore record failed: ${errorMessage(err)}` };
    }
  }

  private load(): Promise<Loaded> {
    this.loaded ??= this.loadNow();
    return this.loaded;
  }

  private async loadNow(): Promise<Loaded> {
    const read = await readRestoreRecord(this.opts.layersDir);
    if ("reason" in read) return read;
    const { record } = read;
    const layersDir = absPath(this.opts.layersDir).toString("latin1");
    if (record.layersDir !== layersDir) return { reason: `restore record ignored: written for the layers directory '${record.layersDir}'` };
    const identity = directoryIdentity(this.opts.layersDir);
    if (!identity || identity.dev !== record.layersDev || identity.ino !== record.layersIno) {
      return { reason: "restore record ignored: the layers directory is not the one it was written for (device or inode differ)" };
    }
    if (this.opts.owner.uid !== record.uid || this.opts.owner.gid !== record.gid) {
      return { reason: `restore record ignored: written for -uid/-gid ${record.uid}:${record.gid}, the exporter runs with ${this.opts.owner.uid}:${this.opts.owner.gid}` };
    }
    const analyzedPath = resolve(this.opts.analyzedPath);
    if (record.analyzed.path !== analyzedPath) return { reason: `restore record ignored: written with analyzed metadata '${record.analyzed.path}', not '${analyzedPath}'` };
    const analyzed = await fileIdentityWithHash(analyzedPath);
    if (!analyzed || !sameIdentity(analyzed, record.analyzed) || analyzed.sha256 !== record.analyzed.sha256) {
      return { reason: "restore record ignored: written in another build (analyzed.toml changed since the restorer wrote it)" };
    }
    return { record, moment: BigInt(record.moment), byDir: new Map(record.layers.map((l) => [l.dir, l])) };
  }
}
