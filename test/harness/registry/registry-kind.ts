/** The four registry flavours the harness can start. */
export type RegistryKind = "plain" | "htpasswd" | "tls" | "token";

/** A username and password. */
export interface Credentials {
  username: string;
  password: string;
}

/** Where a registry (or a proxy in front of one) answers and how clients reach it. */
export interface RegistryEndpoint {
  /** `127.0.0.1:PORT` */
  readonly host: string;
  readonly scheme: "http" | "https";
  /** Directory holding `ca.crt`, for skopeo `--cert-dir` (https only). */
  readonly certDir?: string;
  /** Credentials a client should use, if the registry requires any. */
  readonly credentials?: Credentials;
}
