// Progress lines for long layer transfers, which the Go lifecycle lacks (a `pack build --publish`
// pushing a large layer otherwise looks hung). A transfer that is still running after the interval
// (5 s) gets one info line per interval with what moves, the bytes done, the total when known and
// the rate over the last interval:
//
//   Uploading layer 'acme/node:deps': 120.0 MB of 260.5 MB (46%, 38.2 MB/s)
//
// Short transfers print nothing, so a short build reads exactly like Go's. Lines are keyed by what
// moves: two transfers of the same layer at once (one per repository) still give one line per interval.
import { pipeline, Transform, type Readable } from "node:stream";
import type { Logger } from "./logger.js";

/** Time as the reporter sees it; tests pass a manual clock. */
export interface ProgressClock {
  /** Milliseconds on a monotonic scale. */
  now(): number;
  /** Calls `fn` every `ms` until the returned function is called (must not keep the process alive). */
  every(ms: number, fn: () => void): () => void;
}

/** The real clock: `performance.now()` and unref'd intervals. */
export const systemClock: ProgressClock = {
  now: () => performance.now(),
  every(ms, fn) {
    const timer = setInterval(fn, ms);
    timer.unref();
    return () => clearInterval(timer);
  },
};

/** What a transfer does, as the line starts. */
export type TransferVerb = "Uploading" | "Downloading" | "Extracting";

/** One running transfer; every method is cheap enough to call per chunk. */
export interface Transfer {
  /** The size in bytes, once known. */
  setTotal(bytes: number): void;
  /** Bytes moved since the last call. */
  add(bytes: number): void;
  /** Bytes moved so far (a restarted attempt goes back to 0). */
  set(done: number): void;
  /** The transfer finished or failed: no more lines. Idempotent. */
  end(): void;
}

/** Options of {@link ProgressReporter}. */
export interface ProgressOptions {
  readonly clock?: ProgressClock;
  /** Delay before the first line and between lines (default 5 s). */
  readonly intervalMs?: number;
}

/** A transfer that reports nothing (no reporter given). */
export const NO_TRANSFER: Transfer = { setTotal() {}, add() {}, set() {}, end() {} };

const DEFAULT_INTERVAL_MS = 5000;

/** Starts transfers and prints their progress lines at info level. */
export class ProgressReporter {
  private readonly clock: ProgressClock;
  private readonly intervalMs: number;
  /** When a line was last printed for a subject. */
  private readonly lastLine = new Map<string, number>();

  constructor(
    private readonly logger: Logger,
    options: ProgressOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS;
  }

  /** Starts watching a transfer of `subject` (e.g. `layer 'acme/node:deps'`); call `end()` when done. */
  start(verb: TransferVerb, subject: string, total?: number): Transfer {
    let done = 0;
    let size = total;
    let lastDone = 0;
    let lastAt = this.clock.now();
    let stop: (() => void) | undefined;
    const tick = (): void => {
      const now = this.clock.now();
      const key = `${verb} ${subject}`;
      const previous = this.lastLine.get(key);
      // another transfer of the same subject printed within this interval
      if (previous !== undefined && now - previous < this.intervalMs) return;
      const seconds = (now - lastAt) / 1000;
      const rate = seconds > 0 ? Math.max(0, done - lastDone) / seconds : 0;
      lastDone = done;
      lastAt = now;
      this.lastLine.set(key, now);
      this.logger.info(progressLine(verb, subject, done, size, rate));
    };
    stop = this.clock.every(this.intervalMs, tick);
    return {
      setTotal(bytes) {
        size = bytes;
      },
      add(bytes) {
        done += bytes;
      },
      set(value) {
        // an attempt that restarted from zero within this interval sent all of its bytes in it
        if (value < done) lastDone = 0;
        done = value;
      },
      end() {
        stop?.();
        stop = undefined;
      },
    };
  }
}

/** A progress line: `<verb> <subject>: <done>[ of <total>] ([<pct>%, ]<rate>/s)`. */
export function progressLine(verb: TransferVerb, subject: string, done: number, total: number | undefined, bytesPerSecond: number): string {
  const rate = `${formatBytes(bytesPerSecond)}/s`;
  if (total === undefined || total <= 0) return `${verb} ${subject}: ${formatBytes(done)} (${rate})`;
  const percent = Math.min(100, Math.floor((done / total) * 100));
  return `${verb} ${subject}: ${formatBytes(done)} of ${formatBytes(total)} (${percent}%, ${rate})`;
}

/** Bytes in decimal megabytes with one decimal (`120.0 MB`), gigabytes from 1 GB (`2.6 GB`). */
export function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB`;
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/** The subject of a layer's progress lines: `layer '<id>'`. */
export function layerSubject(id: string): string {
  return `layer '${id}'`;
}

/** `input` with every chunk counted on `transfer` (the caller ends the transfer). */
export function countedStream(input: Readable, transfer: Transfer): Readable {
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      transfer.add(chunk.length);
      callback(null, chunk);
    },
  });
  return pipeline(input, counter, () => undefined);
}
