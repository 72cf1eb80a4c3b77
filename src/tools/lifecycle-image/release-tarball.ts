// Reads the release tarball (`npm run release`): lifecycle.toml at the root and lifecycle/ with the
// executable and the phase symlinks. The executable is extracted to a work directory; the rest is
// kept in memory.
import { createReadStream, createWriteStream } from "node:fs";
import { chmod, stat } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { parse } from "smol-toml";
import { z } from "zod";
import { describeZodError } from "../../platform/files/zod-issues.js";
import { readBody, readTar } from "./tar-input.js";

const ApiSetSchema = z.object({ deprecated: z.array(z.string()), supported: z.array(z.string()).min(1) });
/** The parts of lifecycle.toml the image needs. */
export const DescriptorSchema = z.object({
  apis: z.object({ buildpack: ApiSetSchema, platform: ApiSetSchema }),
  lifecycle: z.object({ version: z.string().min(1) }),
});
/** lifecycle.toml: supported APIs and the lifecycle version. */
export type LifecycleDescriptor = z.infer<typeof DescriptorSchema>;

/** A member of `lifecycle/` in the tarball. */
export type ReleaseMember =
  | { readonly name: string; readonly type: "file"; readonly mode: number; readonly path: string; readonly size: number }
  | { readonly name: string; readonly type: "symlink"; readonly linkname: string };

/** What the tarball holds. */
export interface ReleaseContents {
  readonly descriptor: LifecycleDescriptor;
  /** lifecycle.toml as shipped. */
  readonly descriptorToml: Buffer;
  /** Members of `lifecycle/`, by name. */
  readonly members: ReadonlyMap<string, ReleaseMember>;
  /** The extracted `lifecycle/lifecycle`. */
  readonly executable: string;
}

/** The release tarball cannot be read or is not a lifecycle release. */
export class ReleaseTarballError extends Error {
  override name = "ReleaseTarballError";
}

/** `./lifecycle/x` → `lifecycle/x` (no trailing slash). */
function memberName(name: string): string {
  return name.replace(/^(\.\/)+/, "").replace(/\/+$/, "");
}

/** Reads and checks the release tarball `tgz`, extracting regular files into `workDir`. */
export async function readReleaseTarball(tgz: string, workDir: string): Promise<ReleaseContents> {
  const fail = (message: string): ReleaseTarballError => new ReleaseTarballError(`the release tarball ${tgz} ${message}`);
  let descriptorToml: Buffer | undefined;
  const members = new Map<string, ReleaseMember>();
  try {
    const file = createReadStream(tgz);
    const gunzip = createGunzip();
    file.on("error", (err) => gunzip.destroy(err));
    await readTar(file.pipe(gunzip), async (header, body) => {
      const name = memberName(header.name);
      if (name === "lifecycle.toml" && header.type === "file") {
        descriptorToml = await readBody(body);
        return;
      }
      if (name === "lifecycle" && header.type === "directory") return;
      const m = /^lifecycle\/([A-Za-z0-9._-]+)$/.exec(name);
      if (!m?.[1]) throw fail(`has an unexpected member ${JSON.stringify(header.name)}`);
      const base = m[1];
      if (header.type === "symlink") {
        const linkname = header.linkname ?? "";
        if (!/^[A-Za-z0-9._-]+$/.test(linkname)) throw fail(`has a symlink ${name} -> ${linkname} that leaves lifecycle/`);
        members.set(base, { name: base, type: "symlink", linkname });
      } else if (header.type === "file") {
        const path = join(workDir, base);
        const mode = (header.mode ?? 0o644) & 0o111 ? 0o755 : 0o644;
        await pipeline(body, createWriteStream(path, { mode }));
        await chmod(path, mode);
        members.set(base, { name: base, type: "file", mode, path, size: (await stat(path)).size });
      } else {
        throw fail(`has ${name} as a ${header.type ?? "unknown entry"}`);
      }
    });
  } catch (err) {
    if (err instanceof ReleaseTarballError) throw err;
    throw new ReleaseTarballError(`cannot read the release tarball ${tgz}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!descriptorToml) throw fail("has no lifecycle.toml");
  const executable = members.get("lifecycle");
  if (executable?.type !== "file") throw fail("has no lifecycle/lifecycle executable");
  if (members.has("launcher")) throw fail("already has lifecycle/launcher (this project's release has none; the image build adds --launcher)");
  let toml: unknown;
  try {
    toml = parse(descriptorToml.toString("utf8"));
  } catch (err) {
    throw fail(`has an unreadable lifecycle.toml: ${err instanceof Error ? (err.message.split("\n")[0] ?? "") : String(err)}`);
  }
  const descriptor = DescriptorSchema.safeParse(toml);
  if (!descriptor.success) throw fail(`has an unexpected lifecycle.toml: ${describeZodError(descriptor.error)}`);
  return { descriptor: descriptor.data, descriptorToml, members, executable: executable.path };
}
