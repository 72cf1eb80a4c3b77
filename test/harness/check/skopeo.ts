import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Credentials, RegistryEndpoint } from "../registry/registry-kind.js";
import { runTool } from "../process/run-tool.js";
import { makeTempDir } from "../process/temp-dir.js";
import { ImageConfig, ImageIndex, ImageManifest } from "./oci-schemas.js";

/** Which credentials skopeo uses: the endpoint's (default), others, or none (`null`). */
export interface SkopeoAuth {
  credentials?: Credentials | null;
}

/** skopeo flags reaching `endpoint`; `prefix` is "", "src-" or "dest-". */
export function skopeoFlags(endpoint: RegistryEndpoint, prefix: "" | "src-" | "dest-", auth: SkopeoAuth = {}): string[] {
  const flags = endpoint.scheme === "http" ? [`--${prefix}tls-verify=false`] : [];
  if (endpoint.scheme === "https" && endpoint.certDir !== undefined) flags.push(`--${prefix}cert-dir`, endpoint.certDir);
  const credentials = auth.credentials === undefined ? endpoint.credentials : auth.credentials;
  if (credentials) flags.push(`--${prefix}creds`, `${credentials.username}:${credentials.password}`);
  else if (auth.credentials === null) flags.push(`--${prefix}no-creds`);
  return flags;
}

/** `docker://HOST/REFERENCE` for `reference` = `repo:tag` or `repo@digest`. */
export function dockerReference(endpoint: RegistryEndpoint, reference: string): string {
  return `docker://${endpoint.host}/${reference}`;
}

function skopeo(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return runTool("skopeo", ["--insecure-policy", ...args]);
}

/** The manifest or index exactly as stored (`skopeo inspect --raw`), parsed. */
export interface RawManifest {
  raw: string;
  /** The `mediaType` field, when present. */
  mediaType?: string;
  manifest?: ImageManifest;
  index?: ImageIndex;
}

/** Runs `skopeo inspect --raw` and parses the result as a manifest or an index. */
export async function skopeoInspectRaw(endpoint: RegistryEndpoint, reference: string, auth?: SkopeoAuth): Promise<RawManifest> {
  const { stdout } = await skopeo(["inspect", "--raw", ...skopeoFlags(endpoint, "", auth), dockerReference(endpoint, reference)]);
  const json: unknown = JSON.parse(stdout);
  const isIndex = typeof json === "object" && json !== null && "manifests" in json;
  const result: RawManifest = { raw: stdout };
  if (isIndex) result.index = ImageIndex.parse(json);
  else result.manifest = ImageManifest.parse(json);
  result.mediaType = (result.index ?? result.manifest)?.mediaType;
  return result;
}

/** Runs `skopeo inspect --config` (OCI form of the image configuration), parsed. */
export async function skopeoInspectConfig(endpoint: RegistryEndpoint, reference: string, auth?: SkopeoAuth): Promise<ImageConfig> {
  const { stdout } = await skopeo(["inspect", "--config", ...skopeoFlags(endpoint, "", auth), dockerReference(endpoint, reference)]);
  return ImageConfig.parse(JSON.parse(stdout));
}

/** Copies a registry image into the OCI layout `layoutDir` under `tag` (created if needed). */
export async function skopeoCopyToLayout(
  endpoint: RegistryEndpoint,
  reference: string,
  layoutDir: string,
  tag: string,
  auth?: SkopeoAuth,
): Promise<void> {
  await skopeo(["copy", "-q", ...skopeoFlags(endpoint, "src-", auth), dockerReference(endpoint, reference), `oci:${layoutDir}:${tag}`]);
}

/** Options for pushing a layout image. */
export interface PushOptions extends SkopeoAuth {
  /** Manifest format in the registry (default "oci"). */
  format?: "oci" | "v2s2";
  /** Copy every image of an index (`--all`). */
  all?: boolean;
}

/** Pushes `layoutDir:tag` to `endpoint` as `reference`; returns the pushed manifest digest. */
export async function skopeoPushLayout(
  layoutDir: string,
  tag: string,
  endpoint: RegistryEndpoint,
  reference: string,
  options: PushOptions = {},
): Promise<{ digest: string; reference: string }> {
  const temp = await makeTempDir("push");
  try {
    const digestFile = join(temp.path, "digest");
    const args = ["copy", "-q", "--digestfile", digestFile, "--format", options.format ?? "oci"];
    if (options.all) args.push("--all");
    args.push(...skopeoFlags(endpoint, "dest-", options), `oci:${layoutDir}:${tag}`, dockerReference(endpoint, reference));
    await skopeo(args);
    return { digest: (await readFile(digestFile, "utf8")).trim(), reference: `${endpoint.host}/${reference}` };
  } finally {
    await temp.remove();
  }
}
