// Reads a Debian package (.deb) with dpkg-deb: its control paragraph and its files, in memory.
// The packages a base needs (libc6, libstdc++6, ...) hold a few MB each.
import { posix } from "node:path";
import { runCommand, streamCommand } from "./host-command.js";
import { readBody, readTar } from "./tar-input.js";

/** A file, directory or symlink of a package, at an absolute path. */
export interface DebFile {
  readonly path: string;
  readonly type: "file" | "dir" | "symlink";
  /** Permission bits (with setuid/setgid/sticky). */
  readonly mode: number;
  readonly content?: Buffer;
  readonly linkname?: string;
}

/** The control paragraph of a package. */
export interface DebControl {
  /** The control file as shipped (what dpkg records in its status database). */
  readonly raw: string;
  readonly package: string;
  readonly version: string;
  readonly architecture: string;
  /** Names of the packages in Pre-Depends and Depends (first alternative of each, no versions). */
  readonly depends: readonly string[];
}

/** A package read from a .deb file. */
export interface DebPackage {
  readonly file: string;
  readonly control: DebControl;
  /** Files by absolute path (the root directory itself is left out). */
  readonly files: ReadonlyMap<string, DebFile>;
}

/** A .deb that cannot be read or holds something the image build does not take. */
export class DebPackageError extends Error {
  override name = "DebPackageError";
}

/** Parses the fields of one control paragraph (continuation lines are joined with newlines). */
export function parseControlFields(raw: string): Map<string, string> {
  const fields = new Map<string, string>();
  let current: string | undefined;
  for (const line of raw.split("\n")) {
    if (line === "") continue;
    if (/^[ \t]/.test(line)) {
      if (current !== undefined) fields.set(current, `${fields.get(current) ?? ""}\n${line.trim()}`);
      continue;
    }
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    current = line.slice(0, colon);
    fields.set(current, line.slice(colon + 1).trim());
  }
  return fields;
}

/** Package names of a Depends-style field: `a (>= 1), b | c, d:any` gives a, b, d. */
export function dependencyNames(field: string | undefined): string[] {
  if (!field) return [];
  return field
    .split(",")
    .map((alternatives) => (alternatives.split("|")[0] ?? "").trim())
    .map((dep) => dep.replace(/\s*\(.*\)\s*$/, "").replace(/\s*\[.*\]\s*$/, "").replace(/:\w+$/, "").trim())
    .filter((name) => name !== "");
}

/** The control paragraph of a parsed control file. */
export function parseControl(raw: string, file: string): DebControl {
  const fields = parseControlFields(raw);
  const need = (name: string): string => {
    const value = fields.get(name);
    if (!value) throw new DebPackageError(`${file}: the control file has no ${name} field`);
    return value;
  };
  return {
    raw: raw.endsWith("\n") ? raw : `${raw}\n`,
    package: need("Package"),
    version: need("Version"),
    architecture: need("Architecture"),
    depends: [...dependencyNames(fields.get("Pre-Depends")), ...dependencyNames(fields.get("Depends"))],
  };
}

/** `./lib/x` → `/lib/x`; undefined for the root; throws for names that leave it. */
function memberPath(name: string, file: string): string | undefined {
  const normal = posix.normalize(`/${name}`).replace(/\/+$/, "");
  if (normal === "" || normal === "/" || normal === "/.") return undefined;
  if (name.split("/").includes("..")) throw new DebPackageError(`${file}: unsafe member name ${JSON.stringify(name)}`);
  return normal;
}

/** Reads a .deb's control file and data archive (`dpkg-deb --info`, `dpkg-deb --fsys-tarfile`). */
export async function readDebPackage(file: string): Promise<DebPackage> {
  const dpkg = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof DebPackageError) throw err;
      throw new DebPackageError(`cannot read the package ${file} (${what}): ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  const control = parseControl(await dpkg("control file", () => runCommand("dpkg-deb", ["--info", file, "control"])), file);
  const files = new Map<string, DebFile>();
  const { stdout, done } = streamCommand("dpkg-deb", ["--fsys-tarfile", file]);
  await dpkg("data archive", async () => {
    const reading = readTar(stdout, async (header, body) => {
      const path = memberPath(header.name, file);
      if (path === undefined) return;
      const mode = (header.mode ?? 0) & 0o7777;
      switch (header.type) {
        case "file":
        case "contiguous-file":
          files.set(path, { path, type: "file", mode, content: await readBody(body) });
          return;
        case "directory":
          files.set(path, { path, type: "dir", mode });
          return;
        case "symlink":
          files.set(path, { path, type: "symlink", mode: 0o777, linkname: header.linkname ?? "" });
          return;
        case "link": {
          // a hard link: the same bytes as an earlier member
          const target = files.get(memberPath(header.linkname ?? "", file) ?? "/");
          if (target?.type !== "file") throw new DebPackageError(`${file}: hard link ${path} to a missing file`);
          files.set(path, { ...target, path });
          return;
        }
        default:
          throw new DebPackageError(`${file}: ${path} is a ${header.type ?? "unknown entry"}, which the image does not take`);
      }
    });
    try {
      await reading;
    } catch (err) {
      // when dpkg-deb failed, its own error says more than a tar cut short
      if (!(err instanceof DebPackageError)) await done;
      throw err;
    }
    await done;
  });
  return { file, control, files };
}
