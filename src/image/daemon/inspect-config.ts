// An image config rebuilt from what the Engine API tells about an image (inspect + history), as
// the Go lifecycle's imgutil `local` does: the daemon never hands out the config bytes themselves.
import type { ContainerConfig, History, ImageConfig } from "../types.js";
import type { HistoryResult, InspectResult } from "./engine-schemas.js";
import { NORMALIZED_TIME } from "../../oci/normalized-time.js";

/** Copies the runtime config fields an image config has (Go's `toV1Config`), leaving out empty ones. */
function containerConfig(inspect: InspectResult): ContainerConfig {
  const c = inspect.Config;
  const out: ContainerConfig = {};
  if (!c) return out;
  if (c.User) out.User = c.User;
  if (c.ExposedPorts && Object.keys(c.ExposedPorts).length > 0) out.ExposedPorts = c.ExposedPorts;
  if (c.Env && c.Env.length > 0) out.Env = c.Env;
  if (c.Entrypoint && c.Entrypoint.length > 0) out.Entrypoint = c.Entrypoint;
  if (c.Cmd && c.Cmd.length > 0) out.Cmd = c.Cmd;
  if (c.Healthcheck) out.Healthcheck = c.Healthcheck;
  if (c.Volumes && Object.keys(c.Volumes).length > 0) out.Volumes = c.Volumes;
  if (c.WorkingDir) out.WorkingDir = c.WorkingDir;
  if (c.Labels && Object.keys(c.Labels).length > 0) out.Labels = c.Labels;
  if (c.OnBuild && c.OnBuild.length > 0) out.OnBuild = c.OnBuild;
  if (c.StopSignal) out.StopSignal = c.StopSignal;
  if (c.Shell && c.Shell.length > 0) out.Shell = c.Shell;
  if (c.ArgsEscaped) out.ArgsEscaped = c.ArgsEscaped;
  return out;
}

/** What blank history entries say was their creation time when the image does not say. */


/**
 * The image's history, oldest first, when the daemon reports one entry per layer; otherwise one
 * blank entry per layer (Go's `NormalizedHistory`: the Engine API does not say which entries are
 * empty layers, so a count that does not match cannot be mapped onto the layers). Blank entries
 * carry `created` (podman's history endpoint fails on entries without one).
 */
export function historyFromDaemon(history: HistoryResult | undefined, layerCount: number, created = NORMALIZED_TIME): History[] {
  if (history?.length !== layerCount) return Array.from({ length: layerCount }, () => ({ created }));
  return [...history].reverse().map((h) => {
    const entry: History = { created: new Date(h.Created * 1000).toISOString().replace(".000Z", "Z") };
    if (h.CreatedBy) entry.created_by = h.CreatedBy;
    if (h.Comment) entry.comment = h.Comment;
    return entry;
  });
}

/** The image config (OCI form) of an inspected image; without a history, blank entries. */
export function configFromInspect(inspect: InspectResult, history: HistoryResult | undefined): ImageConfig {
  const diffIds = inspect.RootFS.Layers ?? [];
  const config: ImageConfig = {
    architecture: inspect.Architecture ?? "",
    os: inspect.Os ?? "",
    config: containerConfig(inspect),
    rootfs: { type: "layers", diff_ids: [...diffIds] },
    history: historyFromDaemon(history, diffIds.length, inspect.Created ?? undefined),
  };
  if (inspect.Created) config.created = inspect.Created;
  if (inspect.Author) config.author = inspect.Author;
  if (inspect.Variant) config.variant = inspect.Variant;
  if (inspect.OsVersion) config["os.version"] = inspect.OsVersion;
  return config;
}
