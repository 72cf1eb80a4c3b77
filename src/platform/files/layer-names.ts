// Names that become paths under the layers directory: buildpack directories (`<layers>/<bp>`) and
// layer names (`<layers>/<bp>/<layer>`, `<layer>.toml`, `<layer>.sha`, `<layer>.sbom.<fmt>.json`).
// Layer names come from untrusted metadata (the previous image's label via analyzed.toml, the
// cache metadata of volume and image caches), so each one is checked here before it is joined to a
// path; a name that fails is skipped with a warning naming it. One rule for every source:
// a single path component, so it can neither climb out (`..`) nor reach into another directory.

/** A buildpack ID as a directory name (`acme/node` → `acme_node`). */
export function escapeBuildpackId(id: string): string {
  return id.replaceAll("/", "_");
}

/**
 * Why `name` cannot be used as one path component under the layers directory (`is empty`,
 * `contains "/"`, ...), or undefined when it can: refused are empty, `.` and `..`, a `/`, a NUL
 * byte and other control characters (those would also let a label forge log lines).
 */
export function pathComponentProblem(name: string): string | undefined {
  if (name === "") return "is empty";
  if (name === "." || name === "..") return `is "${name}"`;
  if (name.includes("/")) return 'contains "/"';
  if (name.includes("\0")) return "contains a NUL byte";
  // eslint-disable-next-line no-control-regex
  if (/[\x01-\x1f\x7f]/.test(name)) return "contains a control character";
  return undefined;
}

/** A name from untrusted metadata that cannot become a path. */
export class InvalidNameError extends Error {
  override name = "InvalidNameError";
}

/** `<bp>` of `<layers>/<bp>`: the escaped ID, refused (InvalidNameError) when it is not one path component. */
export function buildpackDirName(id: string): string {
  const escaped = escapeBuildpackId(id);
  const problem = pathComponentProblem(escaped);
  if (problem !== undefined) throw new InvalidNameError(`invalid buildpack ID ${JSON.stringify(id)}: not usable as a directory name (${problem})`);
  return escaped;
}

/**
 * The layers of one buildpack's metadata that may become paths; every other entry is reported to
 * `skip` (with the reason) and left out.
 */
export function usableLayers<T>(layers: Readonly<Record<string, T>>, skip: (name: string, problem: string) => void): Record<string, T> {
  const usable: Record<string, T> = {};
  for (const [name, layer] of Object.entries(layers)) {
    const problem = pathComponentProblem(name);
    if (problem === undefined) Object.defineProperty(usable, name, { value: layer, enumerable: true, writable: true, configurable: true });
    else skip(name, problem);
  }
  return usable;
}

/** The warning for a layer entry of metadata that is skipped because its name cannot be a path. */
export function skippedLayerWarning(buildpackId: string, name: string, source: string, problem: string): string {
  return `Skipping layer ${JSON.stringify(`${buildpackId}:${name}`)} from ${source}: invalid layer name (${problem})`;
}

