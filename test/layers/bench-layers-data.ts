// Deterministic text-like data for the layer benchmark (not a test).

const WORDS = "error warn info debug request response user session token cache layer image build export restore analyze registry manifest config digest upload download retry timeout network socket stream buffer".split(" ");

/** Deterministic text-like bytes (log and JSON lines with varied ids), roughly 2.5-3x gzip ratio. */
export function textLike(bytes: number, seed = 1): Buffer {
  const out = Buffer.alloc(bytes);
  let off = 0;
  let x = seed;
  const rnd = (): number => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return x;
  };
  while (off < bytes) {
    const n = rnd();
    const w = (): string => WORDS[rnd() % WORDS.length]!;
    const line =
      n % 3 === 0
        ? `2024-05-${String(n % 28).padStart(2, "0")}T${n % 24}:${n % 60}:${(n >> 3) % 60}.${n % 1000}Z ${w()} ${w()} id=${rnd().toString(36)} path=/api/${w()}/${rnd() % 99991} status=${200 + (n % 5)} took=${rnd() % 9973}ms\n`
        : `{"id":"${rnd().toString(16)}${rnd().toString(16)}","name":"${w()}-${rnd() % 100003}","tags":["${w()}","${w()}"],"price":${(rnd() % 1000000) / 100},"ok":${n % 2 === 0}}\n`;
    off += out.write(line, off);
  }
  return out;
}
