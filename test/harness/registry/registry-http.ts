import { fetch } from "undici";
import { z } from "zod";
import type { Credentials } from "./registry-kind.js";
import type { RegistryHandle } from "./start-registry.js";

/** Manifest and index media types; registry 2.8 down-converts or 404s when these are missing. */
export const MANIFEST_MEDIA_TYPES = [
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
] as const;

/** An `Accept` header value listing every manifest media type. */
export const ACCEPT_MANIFESTS = MANIFEST_MEDIA_TYPES.join(", ");

/** The `Authorization` header value for basic credentials. */
export function basicAuthorization(credentials: Credentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64")}`;
}

const TokenResponse = z.object({ token: z.string().optional(), access_token: z.string().optional() });

/** Asks a token server (GET flow) for a token with `scopes`; throws on a non-200 answer. */
export async function fetchBearerToken(realm: string, service: string, scopes: readonly string[], credentials?: Credentials): Promise<string> {
  const url = new URL(realm);
  url.searchParams.set("service", service);
  for (const scope of scopes) url.searchParams.append("scope", scope);
  const headers: Record<string, string> = credentials ? { authorization: basicAuthorization(credentials) } : {};
  const response = await fetch(url, { headers });
  if (response.status !== 200) throw new Error(`token request failed with ${response.status}: ${await response.text()}`);
  const body = TokenResponse.parse(await response.json());
  const token = body.token ?? body.access_token;
  if (token === undefined) throw new Error("token response carries neither token nor access_token");
  return token;
}

/**
 * The Authorization header a client needs for `scopes` on this registry: none (plain, tls),
 * Basic (htpasswd) or a Bearer token from its token server (token), using `credentials` or the default user.
 */
export async function registryAuthorization(
  registry: RegistryHandle,
  scopes: readonly string[],
  credentials: Credentials | undefined = registry.credentials,
): Promise<Record<string, string>> {
  if (registry.kind === "htpasswd" && credentials) return { authorization: basicAuthorization(credentials) };
  if (registry.kind === "token" && registry.tokenServer) {
    const server = registry.tokenServer;
    return { authorization: `Bearer ${await fetchBearerToken(server.realm, server.service, scopes, credentials)}` };
  }
  return {};
}
