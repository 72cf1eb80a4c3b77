import { join } from "node:path";
import { Reference } from "../registry/reference.js";
import { isSha256Digest } from "../oci/digest.js";


/** A layout image identifier split into its parts (`<path>@sha256:<hex>`). */
export interface LayoutIdentifier {
  /** The layout directory. */
  readonly path: string;
  /** The manifest digest, when the identifier carries one. */
  readonly digest?: string;
}

/**
 * The lifecycle's layout directory for an image reference (imgutil `ParseRefToPath`):
 * `<layout-dir>/<registry>/<repository>/<tag>`, or `<layout-dir>/<registry>/<repository>/<algorithm>/<hex>`
 * for a digest reference. Docker Hub names use `index.docker.io` and `library/`, like ggcr.
 */
export function layoutPathForReference(layoutDir: string, ref: Reference | string): string {
  const parsed = typeof ref === "string" ? Reference.parse(ref) : ref;
  const base = join(layoutDir, parsed.registry, parsed.repository);
  if (parsed.digest) {
    const [algorithm = "", hex = ""] = parsed.digest.split(":");
    return join(base, algorithm, hex);
  }
  return join(base, parsed.tag ?? "latest");
}

/**
 * Splits the lifecycle's layout identifier `<path>@sha256:<hex>` into path and digest; a value whose
 * last `@` is not followed by a sha256 digest is a plain path (paths may contain `@`).
 */
export function parseLayoutIdentifier(value: string): LayoutIdentifier {
  const at = value.lastIndexOf("@");
  if (at > 0) {
    const digest = value.slice(at + 1);
    if (isSha256Digest(digest)) return { path: value.slice(0, at), digest };
  }
  return { path: value };
}

/** Formats a layout identifier, `<path>@sha256:<hex>` (what `analyzed.toml` records in layout mode). */
export function formatLayoutIdentifier(path: string, digest: string): string {
  if (!isSha256Digest(digest)) throw new Error(`invalid digest ${JSON.stringify(digest)} for layout ${path}`);
  return `${path}@${digest}`;
}
