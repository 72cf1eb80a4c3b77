import { isSha256Digest } from "../oci/digest.js";
/** The registry used for names without one (ggcr `name.DefaultRegistry`). */
export const DOCKER_HUB = "index.docker.io";
const DEFAULT_TAG = "latest";

const TAG_CHARS = /^[A-Za-z0-9_.-]{1,128}$/;
const REPO_CHARS = /^[a-z0-9_./-]{2,255}$/;
const HOST = /^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::\d+)?$/;

/** An invalid image name; the message is ggcr's `could not parse reference: <name>` or a more specific reason. */
export class InvalidReferenceError extends Error {
  override name = "InvalidReferenceError";
}

/**
 * An image reference normalised like go-containerregistry's `name` package with weak validation:
 * Docker Hub → `index.docker.io`, single-segment Hub repositories get `library/`, default tag `latest`.
 */
export class Reference {
  /** Use {@link Reference.parse}; the constructor takes already-validated parts. */
  constructor(
    /** Registry host as ggcr prints it, e.g. `index.docker.io`, `localhost:5000`. */
    readonly registry: string,
    /** Repository path including any implicit `library/`. */
    readonly repository: string,
    /** Tag, when the reference is by tag (`latest` when none was written). */
    readonly tag: string | undefined,
    /** `sha256:<hex>` when the reference is by digest. */
    readonly digest: string | undefined,
    /** The reference as written. */
    readonly original: string,
  ) {}

  /** Parses a reference; throws InvalidReferenceError when it is not a valid image name. */
  static parse(value: string): Reference {
    const asTag = parseTag(value);
    if (asTag) return asTag;
    const asDigest = parseDigest(value);
    if (asDigest) return asDigest;
    throw new InvalidReferenceError(`could not parse reference: ${value}`);
  }

  /** Parses a reference, returning undefined when it is invalid. */
  static tryParse(value: string): Reference | undefined {
    try {
      return Reference.parse(value);
    } catch {
      return undefined;
    }
  }

  /** `registry/repository` (ggcr `Context().Name()`). */
  get context(): string {
    return `${this.registry}/${this.repository}`;
  }

  /** Fully qualified name: `registry/repository:tag` or `registry/repository@digest`. */
  get name(): string {
    return this.digest ? `${this.context}@${this.digest}` : `${this.context}:${this.tag ?? DEFAULT_TAG}`;
  }

  /** The tag or digest used in manifest URLs. */
  get identifier(): string {
    return this.digest ?? this.tag ?? DEFAULT_TAG;
  }

  /** The same repository at a digest (`registry/repo@sha256:…`). */
  withDigest(digest: string): Reference {
    return new Reference(this.registry, this.repository, undefined, digest, `${this.context}@${digest}`);
  }

  /** The same repository at a tag. */
  withTag(tag: string): Reference {
    return new Reference(this.registry, this.repository, tag, undefined, `${this.context}:${tag}`);
  }

  toString(): string {
    return this.original;
  }
}

function parseRepository(name: string): { registry: string; repository: string } | undefined {
  if (name.length === 0) return undefined;
  let registry = "";
  let repo = name;
  const slash = name.indexOf("/");
  if (slash >= 0) {
    const first = name.slice(0, slash);
    if (first.includes(".") || first.includes(":") || first === "localhost") {
      registry = first;
      repo = name.slice(slash + 1);
    }
  }
  if (!REPO_CHARS.test(repo)) return undefined;
  if (repo.split("/").some((part) => part === "")) return undefined;
  if (registry === "" || registry === "docker.io") registry = DOCKER_HUB;
  if (!HOST.test(registry)) return undefined;
  if (registry === DOCKER_HUB && !repo.includes("/")) repo = `library/${repo}`;
  return { registry, repository: repo };
}

function parseTag(value: string): Reference | undefined {
  let base = value;
  let tag = "";
  const colon = value.lastIndexOf(":");
  // a ":" followed by no "/" is a tag; otherwise it belongs to a registry port
  if (colon >= 0 && !value.slice(colon + 1).includes("/")) {
    base = value.slice(0, colon);
    tag = value.slice(colon + 1);
    if (!TAG_CHARS.test(tag)) return undefined;
  }
  const repo = parseRepository(base);
  if (!repo) return undefined;
  return new Reference(repo.registry, repo.repository, tag || DEFAULT_TAG, undefined, value);
}

function parseDigest(value: string): Reference | undefined {
  const parts = value.split("@");
  if (parts.length !== 2) return undefined;
  const [rawBase = "", digest = ""] = parts;
  if (!isSha256Digest(digest)) return undefined;
  // a tag next to the digest is dropped, like ggcr
  const tagged = parseTag(rawBase);
  const repo = tagged ? { registry: tagged.registry, repository: tagged.repository } : parseRepository(rawBase);
  if (!repo) return undefined;
  return new Reference(repo.registry, repo.repository, undefined, digest, value);
}

/** The registry host of a reference string, or undefined when it does not parse. */
export function registryOf(value: string): string | undefined {
  return Reference.tryParse(value)?.registry;
}

/** Drops an `@sha256:…` suffix from a reference string. */
export function stripDigest(value: string): string {
  const at = value.indexOf("@");
  return at < 0 ? value : value.slice(0, at);
}

/**
 * Whether two reference strings name the same image: digests are dropped first, then both are
 * normalised (`acme/run` equals `index.docker.io/acme/run:latest`), like the Go lifecycle.
 */
export function sameImageName(a: string, b: string): boolean {
  const ra = Reference.tryParse(stripDigest(a));
  const rb = Reference.tryParse(stripDigest(b));
  if (!ra || !rb) return stripDigest(a) === stripDigest(b);
  return ra.name === rb.name;
}
