declare const __LIFECYCLE_VERSION__: string | undefined;
declare const __LIFECYCLE_COMMIT__: string | undefined;

/** The lifecycle version, injected at build time (package.json version when run from source). */
export const LIFECYCLE_VERSION: string = typeof __LIFECYCLE_VERSION__ === "string" ? __LIFECYCLE_VERSION__ : "0.0.0-dev";
/** The git commit of the build, or "" when unknown. */
export const LIFECYCLE_COMMIT: string = typeof __LIFECYCLE_COMMIT__ === "string" ? __LIFECYCLE_COMMIT__ : "";

/** `<version>+<commit>` like the Go lifecycle's `-version` output (commit omitted when empty or already present). */
export function versionString(): string {
  if (LIFECYCLE_COMMIT === "" || LIFECYCLE_VERSION.includes(LIFECYCLE_COMMIT)) return LIFECYCLE_VERSION;
  return `${LIFECYCLE_VERSION}+${LIFECYCLE_COMMIT}`;
}
