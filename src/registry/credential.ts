import { inspect } from "node:util";

/** Credentials for one registry. Never printed: JSON and inspect output are redacted. */
export type Credential =
  | { readonly kind: "anonymous" }
  | { readonly kind: "basic"; readonly username: string; readonly password: string }
  /** A registry token sent as `Authorization: Bearer` as is (CNB_REGISTRY_AUTH `Bearer`, docker `registrytoken`). */
  | { readonly kind: "bearer"; readonly token: string }
  /** An identity (refresh) token exchanged for registry tokens with OAuth2 (CNB_REGISTRY_AUTH `X-Identity`). */
  | { readonly kind: "identity"; readonly token: string; readonly username?: string };

export const ANONYMOUS: Credential = Object.freeze({ kind: "anonymous" });

function redacted<T extends Credential>(cred: T): T {
  Object.defineProperty(cred, "toJSON", { value: () => ({ kind: cred.kind, redacted: true }), enumerable: false });
  Object.defineProperty(cred, inspect.custom, { value: () => `Credential(${cred.kind}, <redacted>)`, enumerable: false });
  return Object.freeze(cred);
}

/** Username/password credentials. */
export function basicCredential(username: string, password: string): Credential {
  return redacted({ kind: "basic", username, password });
}

/** A registry bearer token used as is. */
export function bearerCredential(token: string): Credential {
  return redacted({ kind: "bearer", token });
}

/** An OAuth2 identity/refresh token. */
export function identityCredential(token: string, username?: string): Credential {
  return redacted(username === undefined ? { kind: "identity", token } : { kind: "identity", token, username });
}

/** Parses an `Authorization` header value from CNB_REGISTRY_AUTH (`Basic`, `Bearer`, `X-Identity`; case-insensitive). */
export function credentialFromHeader(header: string): Credential {
  const m = /^\s*(\S+)\s+(.+?)\s*$/.exec(header);
  const scheme = m?.[1]?.toLowerCase();
  const value = m?.[2] ?? "";
  switch (scheme) {
    case "basic": {
      const decoded = Buffer.from(value, "base64").toString("utf8");
      const colon = decoded.indexOf(":");
      if (colon < 0) throw new Error("parsing auth header: invalid basic credentials");
      return basicCredential(decoded.slice(0, colon), decoded.slice(colon + 1));
    }
    case "bearer":
      return bearerCredential(value);
    case "x-identity":
      return identityCredential(value);
    default:
      throw new Error("parsing auth header: unknown auth type from header");
  }
}
