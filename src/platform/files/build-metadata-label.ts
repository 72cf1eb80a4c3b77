// The `io.buildpacks.build.metadata` label (contract §4.3), serialised like the Go exporter.
import type { PlatformFeatures } from "../features.js";
import { bomEntryToGoJson } from "./bom.js";
import type { BuildMetadata } from "./build-metadata.js";
import { goJsonMarshal } from "./go-json.js";
import type { GoJsonValue, GoStruct } from "./go-json.js";
import type { GroupElement } from "./group.js";
import type { Process } from "./process.js";

/** Name of the label holding the build metadata. */
export const BUILD_METADATA_LABEL = "io.buildpacks.build.metadata";

/** The lifecycle build that made the image (`launcher` in the label). */
export interface LauncherMetadata {
  version: string;
  source: { git: { repository: string; commit: string } };
}

function groupElementToGoJson(el: GroupElement): GoStruct {
  // `api` is never emitted (Go `json:"-"`), unlike the spec's example.
  return { id: el.id, version: el.version, homepage: el.homepage || undefined, optional: el.optional || undefined };
}

/** The Platform API gates the build metadata label depends on. */
export type BuildLabelFeatures = Pick<PlatformFeatures, "processCommandArray" | "buildLabelHasBom">;

/** The Go JSON shape of a process (a string command and the rest in args before Platform API 0.10). */
export function processToGoJson(p: Process, features: BuildLabelFeatures): GoStruct {
  const tail = {
    direct: p.direct,
    default: p.default || undefined,
    buildpackID: p.buildpackId,
    "working-dir": p.workingDir || undefined,
    "exec-env": p.execEnv?.length ? p.execEnv : undefined,
  };
  if (!features.processCommandArray) {
    return {
      type: p.type,
      command: p.command[0] ?? "",
      args: [...p.command.slice(1), ...(p.args ?? [])],
      ...tail,
    };
  }
  return { type: p.type, command: p.command, args: p.args ?? null, ...tail };
}

/** Serialises the build metadata label: `bom` first only for API < 0.9, no labels/slices. */
export function buildMetadataToLabel(md: BuildMetadata, launcher: LauncherMetadata, features: BuildLabelFeatures): string {
  const bom: GoJsonValue | undefined = features.buildLabelHasBom
    ? md.bom.length > 0
      ? md.bom.map(bomEntryToGoJson)
      : null
    : undefined;
  return goJsonMarshal({
    bom,
    buildpacks: md.buildpacks.map(groupElementToGoJson),
    extensions: md.extensions.length > 0 ? md.extensions.map(groupElementToGoJson) : undefined,
    launcher: {
      version: launcher.version,
      source: { git: { repository: launcher.source.git.repository, commit: launcher.source.git.commit } },
    },
    processes: md.processes.map((p) => processToGoJson(p, features)),
    "buildpack-default-process-type": md.buildpackDefaultProcessType || undefined,
  });
}
