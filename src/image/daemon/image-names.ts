// Image names as the daemon sees them. Names are written fully qualified in Docker's familiar
// normalisation (`docker.io/library/app:latest`), so Docker and podman (whose compat API would
// otherwise resolve short names its own way) agree; image IDs pass through unchanged.
import { Reference } from "../../registry/reference.js";

const IMAGE_ID = /^(?:sha256:)?[0-9a-f]{64}$/;

/** Thrown for a name the daemon cannot store an image under (a digest reference as a tag, an invalid name). */
export class DaemonNameError extends Error {
  override name = "DaemonNameError";
}

/** Whether `name` is an image ID (`sha256:<64 hex>` or the bare 64 hex). */
export function isImageId(name: string): boolean {
  return IMAGE_ID.test(name);
}

function registryOf(ref: Reference): string {
  return ref.registry === "index.docker.io" ? "docker.io" : ref.registry;
}

/**
 * The name to use in API paths: IDs as `sha256:<hex>`, references fully qualified
 * (`docker.io/library/app:latest`). A bare 64-hex ID of an absent image makes podman answer 500
 * ("cannot specify 64-byte hexadecimal strings") instead of 404, so IDs always carry the prefix.
 */
export function daemonName(name: string): string {
  if (isImageId(name)) return name.startsWith("sha256:") ? name : `sha256:${name}`;
  const ref = Reference.tryParse(name);
  if (!ref) throw new DaemonNameError(`invalid image name '${name}'`);
  const repo = `${registryOf(ref)}/${ref.repository}`;
  return ref.digest ? `${repo}@${ref.digest}` : `${repo}:${ref.tag ?? "latest"}`;
}

/** The repository and tag a name tags an image with (`POST /images/{id}/tag?repo=…&tag=…`). */
export function tagTarget(name: string): { repo: string; tag: string } {
  const ref = Reference.tryParse(name);
  if (!ref || isImageId(name)) throw new DaemonNameError(`invalid image name '${name}'`);
  if (ref.digest) throw new DaemonNameError(`cannot tag an image with the digest reference '${name}'`);
  return { repo: `${registryOf(ref)}/${ref.repository}`, tag: ref.tag ?? "latest" };
}

/** `/images/<name><suffix>` with the name escaped for a URL path (slashes and colons stay, as Docker's router expects). */
export function imagePath(name: string, suffix: string): string {
  return `/images/${encodeURI(name).replace(/[?#]/g, encodeURIComponent)}${suffix}`;
}
