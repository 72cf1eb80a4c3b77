import { randomUUID, sign, type KeyObject } from "node:crypto";
import type { Access } from "./scopes.js";

/** The claims distribution 2.8 checks in a registry token. */
export interface TokenClaims {
  iss: string;
  sub: string;
  /** Must be a string (an array is rejected by distribution 2.8). */
  aud: string;
  exp: number;
  nbf: number;
  iat: number;
  jti: string;
  access: Access[];
}

/** What to put in a token; times default to now and now + `expiresIn`. */
export interface TokenRequest {
  issuer: string;
  service: string;
  subject: string;
  access: Access[];
  expiresIn: number;
  /** Overrides for negative tests (expired tokens, wrong audience, ...). */
  claims?: Partial<TokenClaims>;
}

function base64url(data: string | Buffer): string {
  return Buffer.from(data).toString("base64url");
}

/** Signs a compact ES256 JWS (raw r||s signature, `kid` header) the registry accepts. */
export function signRegistryToken(key: { privateKey: KeyObject; keyId: string }, request: TokenRequest): string {
  const now = Math.floor(Date.now() / 1000);
  const claims: TokenClaims = {
    iss: request.issuer,
    sub: request.subject,
    aud: request.service,
    exp: now + request.expiresIn,
    nbf: now,
    iat: now,
    jti: randomUUID(),
    access: request.access,
    ...request.claims,
  };
  const header = { typ: "JWT", alg: "ES256", kid: key.keyId };
  const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
  const signature = sign("sha256", Buffer.from(signingInput), { key: key.privateKey, dsaEncoding: "ieee-p1363" });
  return `${signingInput}.${base64url(signature)}`;
}

/** Decodes (without verifying) the claims of a compact JWS, for assertions. */
export function decodeTokenClaims(token: string): unknown {
  const payload = token.split(".")[1];
  if (payload === undefined) throw new Error("not a compact JWS");
  return JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
}
