// The Docker Engine API answers this client reads, as zod schemas (only the fields used; the
// rest is kept). Docker and podman differ in nullability (podman sends `"Variant": null`,
// Docker omits empty fields), so optional fields accept null too.
import { z } from "zod";
import { SHA256_DIGEST } from "../../oci/digest.js";

const nullableString = z.string().nullish();

/** What `GET /_ping` says in its headers (Docker's clients negotiate the API version with it). */
export interface PingInfo {
  /** `API-Version`: the highest Engine API version the daemon speaks. */
  readonly apiVersion?: string;
  /** `Server`, e.g. `Docker/27.3.1 (linux)` or `Libpod/4.3.1 (linux)`. */
  readonly server?: string;
  /** `Libpod-API-Version`: podman's own API version (podman only). */
  readonly libpodApiVersion?: string;
}

/** `GET /info` (only the storage driver status matters here). */
export const InfoSchema = z
  .object({
    Driver: z.string().optional(),
    DriverStatus: z.array(z.array(z.string())).nullish(),
  })
  .loose();
/** The daemon's system info. */
export type SystemInfo = z.infer<typeof InfoSchema>;

const HealthcheckSchema = z
  .object({
    Test: z.array(z.string()).nullish(),
    Interval: z.number().nullish(),
    Timeout: z.number().nullish(),
    StartPeriod: z.number().nullish(),
    Retries: z.number().nullish(),
  })
  .loose();

/** The `Config` of an image inspect (Docker's container config). */
export const InspectConfigSchema = z
  .object({
    User: nullableString,
    ExposedPorts: z.record(z.string(), z.unknown()).nullish(),
    Env: z.array(z.string()).nullish(),
    Cmd: z.array(z.string()).nullish(),
    Entrypoint: z.array(z.string()).nullish(),
    Healthcheck: HealthcheckSchema.nullish(),
    Volumes: z.record(z.string(), z.unknown()).nullish(),
    WorkingDir: nullableString,
    Labels: z.record(z.string(), z.string()).nullish(),
    OnBuild: z.array(z.string()).nullish(),
    StopSignal: nullableString,
    Shell: z.array(z.string()).nullish(),
    ArgsEscaped: z.boolean().nullish(),
  })
  .loose();

/** `GET /images/{name}/json`. */
export const InspectSchema = z
  .object({
    Id: z.string().regex(SHA256_DIGEST, "expected sha256:<64 hex>"),
    RepoTags: z.array(z.string()).nullish(),
    Created: nullableString,
    Author: nullableString,
    Config: InspectConfigSchema.nullish(),
    Architecture: nullableString,
    Variant: nullableString,
    Os: nullableString,
    OsVersion: nullableString,
    Size: z.number().nullish(),
    RootFS: z
      .object({
        Type: z.string(),
        Layers: z.array(z.string().regex(SHA256_DIGEST, "expected a sha256 diffID")).nullish(),
      })
      .loose(),
  })
  .loose();
/** An image inspect answer. */
export type InspectResult = z.infer<typeof InspectSchema>;

/** `GET /images/{name}/history`: newest first. */
export const HistorySchema = z.array(
  z
    .object({
      Id: z.string().optional(),
      Created: z.number(),
      CreatedBy: nullableString,
      Tags: z.array(z.string()).nullish(),
      Size: z.number().nullish(),
      Comment: nullableString,
    })
    .loose(),
);
/** An image history answer. */
export type HistoryResult = z.infer<typeof HistorySchema>;

/** The body of an error answer (`{"message": …}`; podman adds `cause` and `response`). */
export const ErrorBodySchema = z.object({ message: z.string() }).loose();

/** One line of a JSON message stream (`/images/load` answers with these). */
export const JsonMessageSchema = z
  .object({
    stream: z.string().optional(),
    status: z.string().optional(),
    error: z.string().optional(),
    errorDetail: z.object({ message: z.string().optional() }).loose().nullish(),
  })
  .loose();
/** A JSON stream message. */
export type JsonMessage = z.infer<typeof JsonMessageSchema>;
