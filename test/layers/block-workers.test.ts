import { createHash } from "node:crypto";
import { inflateRawSync, crc32 } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { BlockWorkers, WINDOW } from "../../src/layers/block-workers.js";

const pools: BlockWorkers[] = [];
function pool(options: ConstructorParameters<typeof BlockWorkers>[0] = {}): BlockWorkers {
  const p = new BlockWorkers({ workers: 2, blockSize: 64 * 1024, ...options });
  pools.push(p);
  return p;
}
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

function text(bytes: number, seed = 1): Buffer {
  let s = seed;
  const out = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    out[i] = 97 + (s % 7);
  }
  return out;
}

describe("block workers", () => {
  it("deflates a block into the arena: the bytes inflate back to the input, with and without a dictionary", async () => {
    const p = pool();
    const data = text(60_000);
    const slot = await p.acquire();
    data.copy(slot.input);
    const plain = Buffer.from(await p.deflate(slot, data.length, 0, 1));
    expect(inflateRawSync(plain, { finishFlush: 2 }).equals(data)).toBe(true);
    const dict = text(WINDOW, 9);
    dict.copy(slot.dict);
    const withDict = Buffer.from(await p.deflate(slot, data.length, WINDOW, 1));
    expect(inflateRawSync(withDict, { dictionary: dict, finishFlush: 2 }).equals(data)).toBe(true);
    p.release(slot);
  });

  it("hashes streams in order (sha256 and CRC-32) with several streams interleaved", async () => {
    const p = pool();
    const parts = [text(50_000, 1), text(30_000, 2), text(10, 3)];
    const a = p.hasher({ crc32: true });
    const b = p.hasher();
    for (const part of parts) {
      const slot = await p.acquire();
      part.copy(slot.input);
      await Promise.all([a.update(slot, part.length), b.update(slot, part.length)]);
      p.release(slot);
    }
    const all = Buffer.concat(parts);
    const [da, db] = await Promise.all([a.digest(), b.digest()]);
    const expected = `sha256:${createHash("sha256").update(all).digest("hex")}`;
    expect(da.sha256).toBe(expected);
    expect(db.sha256).toBe(expected);
    expect(da.crc32).toBe(crc32(all));
  });

  it("makes acquire wait for a released slot when the arena is exhausted", async () => {
    const p = pool({ slots: 1 });
    const first = await p.acquire();
    let second = false;
    const waiting = p.acquire().then((s) => {
      second = true;
      return s;
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(second).toBe(false);
    p.release(first);
    expect((await waiting).index).toBe(first.index);
  });

  it("fails the requests of a worker that dies and starts a new one for later requests", async () => {
    const p = pool({ workers: 1 });
    const slot = await p.acquire();
    text(1000).copy(slot.input);
    await p.deflate(slot, 1000, 0, 1);
    // the only worker dies (terminated from outside, as a crash would end it)
    const lanes = (p as unknown as { lanes: ({ worker: { terminate(): Promise<number> } } | undefined)[] }).lanes;
    await lanes[0]?.worker.terminate();
    await new Promise((r) => setTimeout(r, 20));
    const again = Buffer.from(await p.deflate(slot, 1000, 0, 1));
    expect(inflateRawSync(again, { finishFlush: 2 }).equals(slot.input.subarray(0, 1000))).toBe(true);
    p.release(slot);
  });

  it("rejects new work after close", async () => {
    const p = pool();
    await p.close();
    await expect(p.acquire()).rejects.toThrow("closed");
  });
});
