// CPU work of layer builds off the main thread: a few worker threads that deflate 1 MiB tar
// blocks and hash tar streams (sha256 + CRC-32), reading and writing one SharedArrayBuffer arena.
// The arena is allocated once, so a build churns no large buffers in the main isolate: per-block
// zlib streams and buffers there made V8 run a full mark-compact every ~10 MB of input (about a
// sixth of the exporter's CPU time). The workers' code is a string (the CLI is one bundled file).
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";

/** One block's memory in the arena: dictionary, input (a tar chunk) and deflate output. */
export interface Slot {
  readonly index: number;
  /** The previous block's last {@link WINDOW} bytes, the dictionary of this block. */
  readonly dict: Buffer;
  /** Block capacity + 1 byte (the tar writer's spare byte). */
  readonly input: Buffer;
  /** Room for the deflate output of a full block (incompressible data grows a little). */
  readonly output: Buffer;
}

/** Options of {@link BlockWorkers}. */
export interface BlockWorkersOptions {
  /** Worker threads (default: one per core, at most 8). */
  readonly workers?: number;
  /** Slots in the arena (default: 3 per worker + 2). */
  readonly slots?: number;
  /** Largest block a slot holds (default 1 MiB). */
  readonly blockSize?: number;
}

/** A sha256 (and CRC-32) of a stream of blocks, computed in order by one worker. */
export interface BlockHasher {
  /** Hashes `input[0, length)` of the slot; resolves when the worker is done with the slot. */
  update(slot: Slot, length: number): Promise<void>;
  /** `sha256:<hex>` and the CRC-32 of everything hashed; ends the stream. */
  digest(): Promise<{ sha256: string; crc32: number }>;
  /** Forgets the stream (after a failure). */
  abort(): void;
}

/** Dictionary carried from block to block: deflate's 32 KiB window. */
export const WINDOW = 32 << 10;
const OUTPUT_SLACK = 64 << 10;
const DEFAULT_BLOCK = 1 << 20;

interface Reply {
  readonly id: number;
  readonly n?: number;
  readonly overflow?: Uint8Array;
  readonly hex?: string;
  readonly crc?: number;
  readonly error?: string;
}

// Runs in each worker (CommonJS, no imports from this package). Messages: arena (once), deflate
// (raw deflate of a slot's input with its dictionary, sync-flushed, into the slot's output), hash
// (sha256 + CRC-32 of a slot's input, per stream), digest, drop.
const WORKER_CODE = `
const { parentPort } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const zlib = require("node:zlib");
let mem;
const streams = new Map();
// Deflates straight into the arena through the zlib handle's writeSync (what deflateRawSync does
// internally), so no output buffer is allocated per block: V8 frees such buffers only when it
// collects, and a worker could hold tens of MB of them. -1: not done that way (the caller then
// uses deflateRawSync, which gives the same bytes).
// memLevel 9 (a bigger match hash table) measured about 6 % faster than zlib's default 8 at level 1
// on text-like layers, with the same ratio; it changes the compressed bytes, deterministically.
function deflateInto(m) {
  const opts = { level: m.level, memLevel: 9, chunkSize: 64 };
  if (m.dictLen > 0) opts.dictionary = mem.subarray(m.dict, m.dict + m.dictLen);
  const z = new zlib.DeflateRaw(opts);
  try {
    const handle = z._handle;
    const state = z._writeState;
    if (!handle || typeof handle.writeSync !== "function" || !state || state.length !== 2) return -1;
    handle.writeSync(zlib.constants.Z_SYNC_FLUSH, mem, m.input, m.len, mem, m.output, m.outCap);
    // all input taken and room left: the sync flush is complete
    return state[1] === 0 && state[0] > 0 ? m.outCap - state[0] : -1;
  } finally {
    z.close();
  }
}
parentPort.on("message", (m) => {
  if (m.op === "arena") { mem = Buffer.from(m.sab); return; }
  if (m.op === "drop") { streams.delete(m.stream); return; }
  try {
    if (m.op === "deflate") {
      const n = deflateInto(m);
      if (n >= 0) {
        parentPort.postMessage({ id: m.id, n });
        return;
      }
      const opts = { level: m.level, memLevel: 9, finishFlush: zlib.constants.Z_SYNC_FLUSH, chunkSize: m.outCap };
      if (m.dictLen > 0) opts.dictionary = mem.subarray(m.dict, m.dict + m.dictLen);
      const out = zlib.deflateRawSync(mem.subarray(m.input, m.input + m.len), opts);
      if (out.length <= m.outCap) {
        out.copy(mem, m.output);
        parentPort.postMessage({ id: m.id, n: out.length });
      } else {
        const copy = new Uint8Array(out);
        parentPort.postMessage({ id: m.id, overflow: copy }, [copy.buffer]);
      }
    } else if (m.op === "hash") {
      let s = streams.get(m.stream);
      if (!s) { s = { sha: createHash("sha256"), crc: 0 }; streams.set(m.stream, s); }
      const view = mem.subarray(m.input, m.input + m.len);
      s.sha.update(view);
      if (m.crc) s.crc = zlib.crc32(view, s.crc);
      parentPort.postMessage({ id: m.id });
    } else if (m.op === "digest") {
      const s = streams.get(m.stream) || { sha: createHash("sha256"), crc: 0 };
      streams.delete(m.stream);
      parentPort.postMessage({ id: m.id, hex: s.sha.digest("hex"), crc: s.crc });
    }
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: String((err && err.message) || err) });
  }
});
`;

interface Pending {
  resolve(reply: Reply): void;
  reject(err: Error): void;
}

/** One worker thread and the requests it has not answered yet. */
class Lane {
  readonly pending = new Map<number, Pending>();
  streams = 0;
  failed: Error | undefined;

  constructor(readonly worker: Worker) {}
}

/** Default number of worker threads: one per core, at most 8. */
export function defaultBlockWorkers(): number {
  return Math.min(8, Math.max(1, availableParallelism()));
}

/**
 * A pool of worker threads sharing one arena of {@link Slot}s. Slots are handed out by
 * {@link acquire} (waiting while all are in use) and must be released once no worker uses them.
 * The threads are started on first use and do not keep the process alive.
 */
export class BlockWorkers {
  readonly blockSize: number;
  private readonly sab: SharedArrayBuffer;
  private readonly memory: Buffer;
  private readonly stride: number;
  private readonly outputCapacity: number;
  private readonly lanes: (Lane | undefined)[];
  private readonly free: Slot[] = [];
  private readonly waiting: ((slot: Slot) => void)[] = [];
  private nextId = 0;
  private nextStream = 0;
  private closed = false;

  constructor(options: BlockWorkersOptions = {}) {
    const workers = options.workers ?? defaultBlockWorkers();
    const slots = options.slots ?? 3 * workers + 2;
    this.blockSize = options.blockSize ?? DEFAULT_BLOCK;
    if (this.blockSize < WINDOW) throw new RangeError(`block size must be at least ${WINDOW}`);
    const inputCapacity = align(this.blockSize + 1);
    this.outputCapacity = align(this.blockSize + OUTPUT_SLACK);
    this.stride = WINDOW + inputCapacity + this.outputCapacity;
    this.sab = new SharedArrayBuffer(this.stride * slots);
    this.memory = Buffer.from(this.sab);
    for (let i = 0; i < slots; i++) {
      const base = i * this.stride;
      this.free.push({
        index: i,
        dict: this.memory.subarray(base, base + WINDOW),
        input: this.memory.subarray(base + WINDOW, base + WINDOW + inputCapacity),
        output: this.memory.subarray(base + WINDOW + inputCapacity, base + this.stride),
      });
    }
    this.lanes = Array.from({ length: workers }, () => undefined);
  }

  /** Starts the worker threads now (they take tens of ms to boot) rather than on first use. */
  warm(): void {
    for (let i = 0; i < this.lanes.length; i++) this.laneFor(i);
  }

  /** A free slot; waits for one when all are in use. */
  acquire(): Promise<Slot> {
    if (this.closed) return Promise.reject(new Error("block workers are closed"));
    const slot = this.free.pop();
    if (slot) return Promise.resolve(slot);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Returns a slot no worker uses any more. */
  release(slot: Slot): void {
    const next = this.waiting.shift();
    if (next) next(slot);
    else this.free.push(slot);
  }

  /**
   * Raw deflate of `input[0, length)` of the slot at `level`, with the first `dictLength` bytes of
   * its `dict` as dictionary, ended by a sync flush. Resolves with the compressed bytes: a view of
   * the slot's `output` (valid until the slot is released) or, if they do not fit, a new buffer.
   */
  async deflate(slot: Slot, length: number, dictLength: number, level: number): Promise<Buffer> {
    const lane = this.laneFor(this.leastBusy());
    const base = slot.index * this.stride;
    const reply = await this.call(lane, {
      op: "deflate",
      level,
      input: base + WINDOW,
      len: length,
      dict: base,
      dictLen: dictLength,
      output: base + slot.dict.length + slot.input.length,
      outCap: this.outputCapacity,
    });
    if (reply.overflow) return Buffer.from(reply.overflow.buffer, reply.overflow.byteOffset, reply.overflow.byteLength);
    return slot.output.subarray(0, reply.n ?? 0);
  }

  /** A new hash stream, kept on the worker with the fewest streams (so concurrent streams spread). */
  hasher(options: { crc32?: boolean } = {}): BlockHasher {
    const index = this.fewestStreams();
    const lane = this.laneFor(index);
    lane.streams++;
    const stream = ++this.nextStream;
    let open = true;
    const end = () => {
      if (open) lane.streams--;
      open = false;
    };
    return {
      update: async (slot, length) => {
        await this.call(lane, { op: "hash", stream, input: slot.index * this.stride + WINDOW, len: length, crc: options.crc32 === true });
      },
      digest: async () => {
        end();
        const reply = await this.call(lane, { op: "digest", stream });
        return { sha256: `sha256:${reply.hex ?? ""}`, crc32: reply.crc ?? 0 };
      },
      abort: () => {
        end();
        if (!lane.failed) lane.worker.postMessage({ op: "drop", stream });
      },
    };
  }

  /** Stops the threads; pending requests fail. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.lanes.flatMap((lane) => (lane ? [lane.worker.terminate()] : [])));
  }

  private call(lane: Lane, message: Record<string, unknown>): Promise<Reply> {
    if (lane.failed) return Promise.reject(lane.failed);
    const id = ++this.nextId;
    return new Promise<Reply>((resolve, reject) => {
      // a worker with requests in flight keeps the process alive; an idle one does not
      if (lane.pending.size === 0) lane.worker.ref();
      lane.pending.set(id, { resolve, reject });
      lane.worker.postMessage({ ...message, id });
    }).then((reply) => {
      if (reply.error !== undefined) throw new Error(`layer worker: ${reply.error}`);
      return reply;
    });
  }

  private leastBusy(): number {
    let best = 0;
    let load = Infinity;
    for (const [i, lane] of this.lanes.entries()) {
      const n = lane ? lane.pending.size : 0;
      if (n < load) {
        best = i;
        load = n;
      }
    }
    return best;
  }

  private fewestStreams(): number {
    let best = 0;
    let load = Infinity;
    for (const [i, lane] of this.lanes.entries()) {
      const n = lane ? lane.streams * 1000 + lane.pending.size : 0;
      if (n < load) {
        best = i;
        load = n;
      }
    }
    return best;
  }

  /** The lane at `index`, starting its worker when there is none (or it died). */
  private laneFor(index: number): Lane {
    const existing = this.lanes[index];
    if (existing && !existing.failed) return existing;
    if (this.closed) throw new Error("block workers are closed");
    const worker = new Worker(WORKER_CODE, { eval: true, name: "layer-blocks" });
    worker.unref();
    const lane = new Lane(worker);
    worker.postMessage({ op: "arena", sab: this.sab });
    worker.on("message", (reply: Reply) => {
      const p = lane.pending.get(reply.id);
      lane.pending.delete(reply.id);
      if (lane.pending.size === 0) worker.unref();
      p?.resolve(reply);
    });
    const fail = (err: Error) => {
      lane.failed ??= err;
      for (const p of lane.pending.values()) p.reject(lane.failed);
      lane.pending.clear();
      worker.unref();
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`layer worker exited with code ${code}`)));
    this.lanes[index] = lane;
    return lane;
  }
}

function align(n: number): number {
  return Math.ceil(n / 4096) * 4096;
}

let shared: BlockWorkers | undefined;

/** The process's default pool (1 MiB blocks), created on first use. */
export function sharedBlockWorkers(): BlockWorkers {
  shared ??= new BlockWorkers();
  return shared;
}
