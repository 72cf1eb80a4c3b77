// Docker Engine API version negotiation: the lower of what the daemon offers and what this client
// speaks, never more than the daemon offers (lifecycle#1607 broke podman by requiring 1.44).

/** The highest Engine API version this client speaks. */
export const CLIENT_MAX_API_VERSION = "1.48";

/** What a daemon that does not report a version is assumed to speak (Docker's oldest negotiable version). */
export const FALLBACK_API_VERSION = "1.24";

const VERSION = /^(\d+)\.(\d+)$/;

/** Whether `value` is an Engine API version (`1.41`). */
export function isApiVersion(value: string): boolean {
  return VERSION.test(value);
}

/** Compares two Engine API versions (negative when a < b). */
export function compareApiVersions(a: string, b: string): number {
  const [, aMajor = "0", aMinor = "0"] = VERSION.exec(a) ?? [];
  const [, bMajor = "0", bMinor = "0"] = VERSION.exec(b) ?? [];
  return Number(aMajor) - Number(bMajor) || Number(aMinor) - Number(bMinor);
}

/** The version to use with a daemon that offers `server` (an unreadable or missing one counts as the fallback). */
export function negotiateApiVersion(server: string | undefined): string {
  const offered = server !== undefined && isApiVersion(server) ? server : FALLBACK_API_VERSION;
  return compareApiVersions(offered, CLIENT_MAX_API_VERSION) < 0 ? offered : CLIENT_MAX_API_VERSION;
}
