import { isIP } from "node:net";

/** Whether a host name or IP literal is loopback, link-local or private (RFC 1918 / ULA). */
export function isPrivateHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  if (h === "localhost" || h.endsWith(".localhost")) return true;
  const kind = isIP(h);
  if (kind === 4) {
    const [a = 0, b = 0] = h.split(".").map(Number);
    return a === 127 || a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 169 && b === 254) || a === 0;
  }
  if (kind === 6) {
    if (h === "::1" || h === "::") return true;
    if (h.startsWith("::ffff:")) return isPrivateHost(h.slice(7));
    return /^f[cd]/.test(h) || /^fe[89ab]/.test(h);
  }
  return false;
}

/**
 * Whether plain HTTP may be tried for a registry host (after HTTPS): ggcr's rule for
 * `localhost`, `*.local`, loopback and private addresses.
 */
export function httpAllowedByDefault(registry: string): boolean {
  const host = registry.replace(/:\d+$/, "");
  return isPrivateHost(host) || host.endsWith(".local");
}

/** Whether an image reference (as written) matches an insecure-registry prefix (contract §8). */
export function matchesInsecure(reference: string, insecure: readonly string[]): boolean {
  return insecure.some((prefix) => prefix !== "" && reference.startsWith(prefix));
}
