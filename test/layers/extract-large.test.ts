import { createHash } from "node:crypto";
import { statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createReadStream } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import tar from "tar-stream";
import { afterEach, beforeEach, expect, it } from "vitest";
import { extractLayer } from "../../src/layers/extract.js";

const MiB = 1024 * 1024;
const FILE = "/layers/acme_big/blob/data.bin";

let root: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "extract-large-"));
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

function fileSizeOnDisk(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

it("streams a 100 MiB file with bounded buffering and writes it intact", async () => {
  const total = 100 * MiB;
  const hostFile = join(root, FILE);
  const pack = tar.pack();
  const expected = createHash("sha256");
  let maxLead = 0;

  // The producer writes 1 MiB chunks with backpressure and records how far it ever got ahead of
  // the bytes on disk; an extractor that buffered the file would let it run the whole 100 MiB ahead.
  const produce = (async () => {
    for (const dir of ["/layers", "/layers/acme_big", "/layers/acme_big/blob"]) {
      pack.entry({ name: dir, type: "directory", mode: 0o755 });
    }
    const sink = pack.entry({ name: FILE, type: "file", mode: 0o644, size: total });
    for (let produced = 0, i = 0; produced < total; produced += MiB, i++) {
      maxLead = Math.max(maxLead, produced - fileSizeOnDisk(hostFile));
      const chunk = Buffer.alloc(MiB, i & 0xff);
      chunk.writeUInt32BE(i, 0);
      expected.update(chunk);
      if (!sink.write(chunk)) await new Promise<void>((resolve) => sink.once("drain", () => resolve()));
    }
    sink.end(undefined);
    pack.finalize();
  })();

  const started = performance.now();
  const result = await extractLayer(Readable.from(pack), {
    root,
    allowedPrefix: "/layers/acme_big/blob",
  });
  await produce;
  const seconds = (performance.now() - started) / 1000;
  console.log(`extracted ${total / MiB} MiB in ${seconds.toFixed(2)}s (${(total / MiB / seconds).toFixed(0)} MiB/s)`);

  expect(result.entries).toBe(4);
  expect(maxLead).toBeLessThan(32 * MiB);
  const written = createHash("sha256");
  for await (const chunk of createReadStream(hostFile, { highWaterMark: 4 * MiB })) written.update(chunk as Buffer);
  expect(written.digest("hex")).toBe(expected.digest("hex"));
});
