import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { gzipSync } from "node:zlib";
import tar from "tar-stream";
import type { Credentials, RegistryEndpoint } from "../../test/harness/index.js";
import { FileLayer } from "../../src/image/file-layer.js";
import { LayoutImage } from "../../src/image/layout-image.js";
import { MutableImage } from "../../src/image/mutable-image.js";
import { pushImage } from "../../src/image/registry-writer.js";
import { RegistryClient } from "../../src/registry/client.js";
import { DefaultKeychain } from "../../src/registry/keychain.js";
import { Reference } from "../../src/registry/reference.js";
import { MediaType } from "../../src/oci/media-types.js";

/** `CNB_REGISTRY_AUTH` JSON giving Basic credentials for each endpoint that has them. */
export function registryAuth(...endpoints: RegistryEndpoint[]): string {
  const auth: Record<string, string> = {};
  for (const e of endpoints) {
    if (e.credentials) auth[e.host] = `Basic ${Buffer.from(`${e.credentials.username}:${e.credentials.password}`).toString("base64")}`;
  }
  return JSON.stringify(auth);
}

/** Writes a file, creating its directory. */
export function writeText(path: string, text: string): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  return path;
}

/** A run.toml with the given `[[images]]` entries. */
export function runToml(path: string, entries: { image: string; mirrors?: string[] }[]): string {
  const text = entries
    .map((e) => `[[images]]\n  image = ${JSON.stringify(e.image)}\n  mirrors = [${(e.mirrors ?? []).map((m) => JSON.stringify(m)).join(", ")}]\n`)
    .join("\n");
  return writeText(path, text);
}

/** A file in a test layer tar: absolute path, content or directory. */
export interface TarFile {
  readonly path: string;
  readonly content?: string;
  readonly dir?: boolean;
  /** Make the entry a symlink to this target. */
  readonly symlink?: string;
  readonly mode?: number;
}

/** The mtime of every entry of test tars. */
export const TAR_MTIME = new Date("2001-02-03T04:05:06Z");

/** Builds an uncompressed tar with absolute entry names (as the lifecycle writes them). */
export async function buildTar(files: readonly TarFile[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on("data", (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise<void>((resolve, reject) => {
    pack.on("end", resolve);
    pack.on("error", reject);
  });
  for (const f of files) {
    const mtime = TAR_MTIME;
    if (f.dir) pack.entry({ name: f.path, type: "directory", mode: f.mode ?? 0o755, mtime });
    else if (f.symlink !== undefined) pack.entry({ name: f.path, type: "symlink", linkname: f.symlink, mode: f.mode ?? 0o777, mtime });
    else pack.entry({ name: f.path, mode: f.mode ?? 0o644, mtime }, f.content ?? "");
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

const sha256 = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

/** Writes a tar as a gzip blob file and returns it as a layer. */
export function layerFromTar(dir: string, name: string, tarBytes: Buffer): FileLayer {
  const gz = gzipSync(tarBytes);
  const path = join(dir, `${name}.tar.gz`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path, gz);
  return new FileLayer(path, sha256(gz), sha256(tarBytes), gz.length, MediaType.OciLayerGzip);
}

/** A registry client for test fixtures (not the code under test's own run). */
export function fixtureClient(...endpoints: RegistryEndpoint[]): RegistryClient {
  return new RegistryClient({ keychain: new DefaultKeychain({ env: { CNB_REGISTRY_AUTH: registryAuth(...endpoints) } }) });
}

/**
 * Pushes an "app image": a fixture run image from a layout plus extra layers and labels, with our
 * own client (fixtures that need absolute-path layers, which umoci cannot make).
 */
export async function pushDerivedImage(
  layoutDir: string,
  tag: string,
  endpoint: RegistryEndpoint,
  reference: string,
  extra: { layers?: FileLayer[]; labels?: Record<string, string>; env?: Record<string, string> },
): Promise<string> {
  const image = await MutableImage.from(new LayoutImage(layoutDir, { refName: tag }));
  for (const l of extra.layers ?? []) image.addLayer(l, { created: "1980-01-01T00:00:01Z" });
  for (const [k, v] of Object.entries(extra.labels ?? {})) image.setLabel(k, v);
  for (const [k, v] of Object.entries(extra.env ?? {})) image.setEnv(k, v);
  const client = fixtureClient(endpoint);
  try {
    const result = await pushImage(client, image, [Reference.parse(`${endpoint.host}/${reference}`)]);
    return result.digest;
  } finally {
    await client.close();
  }
}

/** The value at a path of keys in parsed TOML/JSON (undefined when any step is missing). */
export function at(value: unknown, ...keys: (string | number)[]): unknown {
  let v = value;
  for (const k of keys) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<string | number, unknown>)[k];
  }
  return v;
}

/** Reads a file as text. */
export function readText(path: string): Promise<string> {
  return readFile(path, "utf8");
}

/** Basic-auth credentials as the harness uses them. */
export type { Credentials };
