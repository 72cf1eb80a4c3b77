// How deeply a JSON text nests, measured before it is parsed. Label and cache metadata end up in
// TOML files (analyzed.toml, `<layer>.toml`, store.toml), whose reader and writer stop at 1000
// levels; Go's JSON decoder stops at 10000 and then treats the label as undecodable. A label
// nested deeper than these files can hold is treated the same way here: undecodable, ignored.

/**
 * Deepest nesting of labels and cache metadata accepted: the TOML files they are copied into
 * (at most 1000 levels) also hold the tables around them (`[metadata.buildpacks.layers.<name>]`).
 */
export const MAX_METADATA_DEPTH = 900;

/** Whether the JSON text nests arrays and objects more than `max` levels deep (strings are skipped). */
export function exceedsJsonDepth(text: string, max: number = MAX_METADATA_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return false;
}
