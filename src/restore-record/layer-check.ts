// Whether a layer directory is still exactly as the restorer recorded it: the ancestors' tar fields
// (stat), then every entry (lstat, and readlink for symlinks; no file is read), in archive order.
import { setImmediate as yieldNow } from "node:timers/promises";
import { ancestorEntries } from "../layers/fs-entries.js";
import { pathBytes } from "../layers/tar-entry.js";
import { CTIME, PRINT_FIELDS, printOf, showPath, walkLayer, type EntryPrint } from "./layer-walk.js";
import type { RecordedLayer } from "./record-file.js";

/** How a layer compares with its record. */
export type LayerCheck =
  /** Unchanged: the recorded diffID is the layer's. */
  | { readonly kind: "unchanged" }
  /** Some entry or ancestor differs from the record: the layer must be read. */
  | { readonly kind: "changed"; readonly reason: string }
  /** An entry changed within the clock step of the record: the record cannot tell, so the layer is read. */
  | { readonly kind: "racy"; readonly reason: string };

/** Longest stretch of synchronous walking before yielding to the event loop. */
const MAX_SYNC_MS = 4;
/** Differences named in a reason (the walk stops after these). */
const MAX_REPORTED = 3;

/** Compares the directory `root` (absolute, bytes) with `layer`, recorded at `moment`. */
export async function checkLayer(layer: RecordedLayer, moment: bigint, root: Buffer): Promise<LayerCheck> {
  for (const p of layer.entries) {
    if (BigInt(p[CTIME]) >= moment) {
      return { kind: "racy", reason: `'${showPath(p[0])}' was changed within the clock step of the restore record (racy), so the record cannot tell later changes apart` };
    }
  }
  const ancestors = await ancestorEntries(root).catch(() => undefined);
  if (!ancestors || ancestors.length !== layer.ancestors.length) return { kind: "changed", reason: "its ancestor directories changed" };
  for (const [i, a] of ancestors.entries()) {
    const [name, type, mode, uid, gid] = layer.ancestors[i]!;
    const fields: string[] = [];
    if (pathBytes(a.name).toString("latin1") !== name) fields.push("path");
    if (a.type !== type) fields.push("type");
    if (a.mode !== mode) fields.push("mode");
    if (a.uid !== uid || a.gid !== gid) fields.push("owner");
    if (fields.length > 0) return { kind: "changed", reason: `ancestor '${showPath(name)}' changed (${fields.join(", ")})` };
  }
  const found: string[] = [];
  let i = 0;
  let since = performance.now();
  try {
    for (const e of walkLayer(root)) {
      const now = printOf(e);
      // merge the walk with the record (both in archive order) until a few differences are known
      while (found.length < MAX_REPORTED) {
        const was = layer.entries[i];
        const order = was === undefined ? -1 : compareArchiveOrder(now[0], was[0]);
        if (order < 0) {
          found.push(`'${showPath(now[0])}' was added`);
          break;
        }
        i++;
        if (order > 0) {
          found.push(`'${showPath(was![0])}' was removed`);
          continue;
        }
        const fields = differences(was!, now);
        if (fields.length > 0) found.push(`'${showPath(now[0])}' changed (${fields.join(", ")})`);
        break;
      }
      if (found.length >= MAX_REPORTED) break;
      if (performance.now() - since > MAX_SYNC_MS) {
        await yieldNow();
        since = performance.now();
      }
    }
  } catch (err) {
    found.push(`walking it failed (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  for (; i < layer.entries.length && found.length < MAX_REPORTED; i++) found.push(`'${showPath(layer.entries[i]![0])}' was removed`);
  return found.length === 0 ? { kind: "unchanged" } : { kind: "changed", reason: found.join("; ") };
}

/** The names of the fields that differ between two prints of the same path. */
function differences(was: EntryPrint, now: EntryPrint): string[] {
  const out: string[] = [];
  for (let f = 1; f < PRINT_FIELDS.length; f++) if (was[f] !== now[f]) out.push(PRINT_FIELDS[f]!);
  return out;
}

/**
 * Orders two relative paths (latin1 byte strings) as the walk meets them: component by component in
 * byte order, a directory before its contents (so `a/b` < `a/b/c` < `a/b2` < `a-b`).
 */
export function compareArchiveOrder(a: string, b: string): number {
  if (a === b) return 0;
  const x = a === "" ? [] : a.split("/");
  const y = b === "" ? [] : b.split("/");
  for (let k = 0; k < Math.min(x.length, y.length); k++) {
    const p = x[k]!;
    const q = y[k]!;
    if (p !== q) return p < q ? -1 : 1;
  }
  return x.length - y.length;
}
