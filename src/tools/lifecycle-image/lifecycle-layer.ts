// The lifecycle layer, as the Go lifecycle's image has it: /cnb/lifecycle.toml and /cnb/lifecycle/
// (the executable, the phase symlinks and the launcher), root-owned, directories and executables
// 0755, mtimes at 1980-01-01T00:00:01Z.
import { type TarEntry } from "../../layers/tar-entry.js";
import type { ReleaseContents } from "./release-tarball.js";
import { NORMALIZED_MTIME } from "../../oci/normalized-time.js";

/** Where the exporter finds the launcher it copies into app images. */
export const LAUNCHER_PATH = "/cnb/lifecycle/launcher";

/** The launcher file given with `--launcher`. */
export interface LauncherFile {
  readonly path: string;
  readonly size: number;
}

function entry(name: string, fields: Omit<TarEntry, "name" | "uid" | "gid" | "mtime">): TarEntry {
  return { name, uid: 0, gid: 0, mtime: NORMALIZED_MTIME, ...fields };
}

/** The layer's entries, sorted by path. */
export function lifecycleLayerEntries(release: ReleaseContents, launcher: LauncherFile): TarEntry[] {
  const entries: TarEntry[] = [
    entry("/cnb", { type: "dir", mode: 0o755 }),
    entry("/cnb/lifecycle", { type: "dir", mode: 0o755 }),
    entry("/cnb/lifecycle.toml", { type: "file", mode: 0o644, size: release.descriptorToml.length, content: release.descriptorToml }),
    entry(LAUNCHER_PATH, { type: "file", mode: 0o755, size: launcher.size, source: launcher.path }),
  ];
  for (const m of release.members.values()) {
    const name = `/cnb/lifecycle/${m.name}`;
    if (m.type === "symlink") entries.push(entry(name, { type: "symlink", mode: 0o777, linkname: m.linkname }));
    else entries.push(entry(name, { type: "file", mode: m.mode, size: m.size, source: m.path }));
  }
  return entries.sort((a, b) => Buffer.compare(Buffer.from(a.name as string), Buffer.from(b.name as string)));
}
