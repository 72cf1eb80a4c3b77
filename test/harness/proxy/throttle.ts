import { setTimeout as sleep } from "node:timers/promises";
import { Transform } from "node:stream";

/**
 * A pass-through stream that lets at most `bytesPerSecond` through on average, in slices of a 20th
 * of a second; it takes the next chunk only once the last one is through, so the writer feels the
 * slowness as backpressure (a slow link, as far as either end can tell).
 */
export function throttleStream(bytesPerSecond: number): Transform {
  if (!(bytesPerSecond > 0)) throw new Error(`throttle rate must be positive, got ${bytesPerSecond}`);
  const slice = Math.max(1, Math.floor(bytesPerSecond / 20));
  const started = Date.now();
  let passed = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      void (async () => {
        for (let offset = 0; offset < chunk.length; offset += slice) {
          const part = chunk.subarray(offset, offset + slice);
          passed += part.length;
          const wait = started + (passed / bytesPerSecond) * 1000 - Date.now();
          if (wait > 0) await sleep(wait);
          if (this.destroyed) return;
          this.push(part);
        }
      })().then(() => callback(), callback);
    },
  });
}
