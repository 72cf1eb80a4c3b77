// Safe, streaming extraction of a layer tar whose entry names are absolute paths
// (`/layers/acme_node/node/bin/x`), as the restorer does for cached layers (contract §5.6).
//
// Cleanup strategy: every path the extraction creates (directories, files, symlinks, temp files)
// is recorded in creation order. On any failure — an unsafe entry, a truncated or corrupt stream,
// a digest mismatch, an error raised by the input stream, a filesystem error — those paths are
// removed newest first, directories with rmdir only. Pre-existing files that an entry replaces are
// written to a temp sibling and renamed over the original only after the whole archive (and its
// digest) checked out, so they survive a failure untouched. Removing only what was recorded (rather
// than `rm -rf` of a directory) keeps concurrent extractions that share parents such as
// `<layers>/<bp>` safe from each other. We did not extract into a sibling temp dir and rename it
// into place: layer tars also carry their ancestor directories and may land in an existing layer
// directory, which a single rename cannot merge.
//
// Modes: files get their exact tar mode (incl. setuid/setgid/sticky) via fchmod, independent of
// the umask; new directories get theirs after all entries; existing directories are left alone;
// missing parents are created with 0777 minus the umask. Ownership is applied only when an owner
// is given and the process runs as root. Mtimes: the restorer restores them for cached layer
// data (`restoreMtimes`), so restored files keep the times they were cached with; without the
// option (the analyzer's SBOM layer) files get the time of extraction, as Go does.
import { createGunzip } from "node:zlib";
import { pipeline, type Readable } from "node:stream";
import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import tar from "tar-stream";
import { ExtractError } from "./extract-error.js";
import { checkDirectoryOption } from "./extract-paths.js";
import { ByteProbe } from "./extract-probe.js";
import { errnoCode } from "../util/fs-errors.js";
import { LayerWriter, SourceFailure, type WriterSettings } from "./extract-writer.js";

export { ExtractError, type ExtractErrorCode } from "./extract-error.js";

/** Options for {@link extractLayer}; directories are absolute paths in the archive's namespace. */
export interface ExtractOptions {
  /** Host directory the archive's `/` maps to (default `/`; a temp dir in tests). */
  root?: string;
  /**
   * Every entry must lie inside this directory (its ancestors may appear as directory entries, which
   * are left alone when they exist). Pass the layer directory, `<layers>/<bp>` or `<layers>/sbom`.
   */
  allowedPrefix: string;
  /** Symlink targets must resolve inside this directory (default `allowedPrefix`; `/` allows any). */
  symlinkScope?: string;
  /** Owner for everything created; applied only when running as root. */
  owner?: { uid: number; gid: number };
  /** Restore entry mtimes (the restorer does, for cached layer data); default false. */
  restoreMtimes?: boolean;
  /** The input is gzip-compressed and is gunzipped while streaming. */
  gzip?: boolean;
  /** `sha256:<hex>` of the uncompressed tar; a mismatch fails the extraction (and cleans up). */
  expectedDiffID?: string;
  /** `sha256:<hex>` of the input bytes as given (the compressed blob when `gzip`). */
  expectedDigest?: string;
  /** Compute the diffID even when none is expected. */
  computeDiffID?: boolean;
  /** Sees every byte of the uncompressed tar as it is extracted (the restore record's shape hash). */
  observe?: (chunk: Buffer) => void;
  /** Require the tar end-of-archive marker (default true: catches streams cut at an entry boundary). */
  requireEndMarker?: boolean;
}

/** What an extraction did. */
export interface ExtractResult {
  /** Number of tar entries (PAX/GNU meta headers excluded). */
  entries: number;
  /** Length of the uncompressed tar stream. */
  tarBytes: number;
  /** sha256 of the uncompressed tar, when expected or requested. */
  diffID: string | undefined;
  /** sha256 of the raw input, when expected. */
  digest: string | undefined;
}

/**
 * Extracts a layer tar stream under `root`, refusing unsafe entries; on failure everything the
 * extraction created is removed again and the error is rethrown (errors raised by `input` itself
 * unchanged, everything else as an {@link ExtractError}).
 */
export async function extractLayer(input: Readable, opts: ExtractOptions): Promise<ExtractResult> {
  let inputError: unknown;
  input.on("error", (err) => {
    inputError ??= err;
  });
  let writer: LayerWriter;
  try {
    const settings = resolveSettings(opts);
    await checkRoot(settings.root);
    writer = new LayerWriter(settings);
  } catch (err) {
    input.destroy();
    throw err;
  }

  const rawProbe = opts.expectedDigest === undefined
    ? undefined
    : new ByteProbe({ hash: true, expected: opts.expectedDigest, label: "digest", trackEndMarker: false });
  const tarProbe = new ByteProbe({
    hash: opts.computeDiffID === true,
    expected: opts.expectedDiffID,
    label: "diffID",
    trackEndMarker: opts.requireEndMarker ?? true,
    observe: opts.observe,
  });
  let source: Readable = input;
  if (rawProbe) source = pipeline(source, rawProbe, noop);
  if (opts.gzip === true) source = pipeline(source, createGunzip({ chunkSize: 256 * 1024 }), noop);
  source = pipeline(source, tarProbe, noop);

  try {
    await feedEntries(source, writer);
    if ((opts.requireEndMarker ?? true) && !tarProbe.endsWithMarker()) {
      throw new ExtractError("TRUNCATED", "layer tar is truncated: it ends without the end-of-archive marker");
    }
    await writer.finish();
  } catch (err) {
    input.destroy();
    source.destroy();
    const failure = classify(err, inputError);
    try {
      await writer.rollback();
    } catch (cleanupErr) {
      throw new ExtractError(
        "CLEANUP_FAILED",
        `${failure instanceof Error ? failure.message : String(failure)}; removing the partial extraction also failed: ${
          cleanupErr instanceof Error ? cleanupErr.message : String(cleanupErr)
        }`,
        { cause: failure },
      );
    }
    throw failure;
  }
  return { entries: writer.entries, tarBytes: tarProbe.bytes, diffID: tarProbe.digest, digest: rawProbe?.digest };
}

/** Pumps `source` into tar-stream with backpressure while handing each entry to the writer. */
async function feedEntries(source: Readable, writer: LayerWriter): Promise<void> {
  const extract = tar.extract();
  const pump = (async () => {
    try {
      for await (const chunk of source) {
        if (!extract.write(chunk)) await drained(extract);
        if (extract.destroyed) return;
      }
      extract.end(undefined);
    } catch (err) {
      extract.destroy(err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
  })();
  pump.catch(noop);
  try {
    for await (const entry of extract) await writer.write(entry.header, entry);
  } catch (err) {
    source.destroy();
    await pump.catch(noop);
    throw err;
  }
  await pump;
}

function drained(extract: tar.Extract): Promise<void> {
  return new Promise((resolveDrain) => {
    if (extract.destroyed) {
      resolveDrain();
      return;
    }
    const done = (): void => {
      extract.off("drain", done);
      extract.off("close", done);
      resolveDrain();
    };
    extract.on("drain", done);
    extract.on("close", done);
  });
}

/** Keeps the input's own errors and ExtractErrors; turns parser and gunzip failures into ExtractErrors. */
function classify(err: unknown, inputError: unknown): unknown {
  const original = err instanceof SourceFailure ? err.original : err;
  if (inputError !== undefined && original === inputError) return inputError;
  if (original instanceof ExtractError) return original;
  const message = original instanceof Error ? original.message : String(original);
  if (message === "Unexpected end of data") {
    return new ExtractError("TRUNCATED", "layer tar is truncated: the stream ended inside an entry", { cause: original });
  }
  if (errnoCode(original)?.startsWith("Z_") === true) {
    return new ExtractError("CORRUPT", `layer is not valid gzip: ${message}`, { cause: original });
  }
  return new ExtractError("CORRUPT", `layer is not a valid tar archive: ${message}`, { cause: original });
}

function resolveSettings(opts: ExtractOptions): WriterSettings {
  const allowedPrefix = checkDirectoryOption("allowedPrefix", opts.allowedPrefix);
  const symlinkScope = opts.symlinkScope === undefined
    ? allowedPrefix
    : checkDirectoryOption("symlinkScope", opts.symlinkScope);
  let root = resolve(opts.root ?? "/");
  if (root.length > 1 && root.endsWith("/")) root = root.slice(0, -1);
  const isRoot = process.getuid?.() === 0;
  return {
    root,
    allowedPrefix,
    symlinkScope,
    owner: isRoot ? opts.owner : undefined,
    restoreMtimes: opts.restoreMtimes === true,
  };
}

async function checkRoot(root: string): Promise<void> {
  let isDirectory = false;
  try {
    isDirectory = (await stat(root)).isDirectory();
  } catch {
    // reported below
  }
  if (!isDirectory) throw new ExtractError("FS", `extraction root ${JSON.stringify(root)} is not a directory`);
}

function noop(): void {}
