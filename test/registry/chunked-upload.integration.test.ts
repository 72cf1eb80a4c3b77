import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { readBlob } from "../../src/registry/blobs.js";
import { RegistryClient } from "../../src/registry/client.js";
import { anonymousKeychain } from "../../src/registry/keychain.js";
import { uploadBlob } from "../../src/registry/upload.js";
import { expectNoLeakedProcesses, faults, useFaultProxy, useRegistry } from "../harness/index.js";

expectNoLeakedProcesses();
const registry = useRegistry("plain");
const proxy = useFaultProxy(registry);

const SIZE = 5 * 1024 * 1024 + 123;
const data = randomBytes(SIZE);
const digest = `sha256:${createHash("sha256").update(data).digest("hex")}`;
const UPLOADS = /\/blobs\/uploads\//;

async function withClient<T>(fn: (client: RegistryClient) => Promise<T>): Promise<T> {
  const client = new RegistryClient({ keychain: anonymousKeychain, retry: { attempts: 3, baseDelayMs: 20, maxDelayMs: 100, maxRetryAfterMs: 60_000 } });
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

describe("chunked blob uploads", () => {
  it("uploads in PATCH chunks with Content-Range when asked to", async () => {
    await withClient(async (client) => {
      const repo = client.repository(`${proxy().host}/chunks/a`, { push: true });
      const result = await uploadBlob(repo, { digest, size: SIZE, open: () => Readable.from([data]) }, { chunkSize: 2 * 1024 * 1024 });
      expect(result).toMatchObject({ digest, size: SIZE, outcome: "uploaded" });
      expect(proxy().count({ method: "PATCH", path: UPLOADS })).toBe(3);
      expect((await readBlob(client.repository(`${proxy().host}/chunks/a`), digest, { size: SIZE })).equals(data)).toBe(true);
    });
  });

  it("switches to chunks when the registry rejects a whole-blob PATCH with 413", async () => {
    await withClient(async (client) => {
      proxy().addRule({ method: "PATCH", path: UPLOADS, times: 1, fault: faults.registryError(413, "SIZE_INVALID", "request entity too large") });
      const repo = client.repository(`${proxy().host}/chunks/b`, { push: true });
      const result = await uploadBlob(repo, { digest, size: SIZE, open: () => Readable.from([data]) });
      expect(result.outcome).toBe("uploaded");
      const patches = proxy().requests({ method: "PATCH", path: UPLOADS });
      expect(patches.length).toBe(2); // the refused whole-blob PATCH, then one 16 MiB chunk holding the rest
      expect(proxy().count({ method: "POST", path: UPLOADS })).toBe(2);
      expect((await readBlob(client.repository(`${proxy().host}/chunks/b`), digest, { size: SIZE })).equals(data)).toBe(true);
    });
  });
});
