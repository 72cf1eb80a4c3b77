// Where the built image goes besides the OCI layout: registries (`--push`) and a Docker-compatible
// daemon (`--load`). Sinks run after the layout is complete and before it replaces the old one, so
// a failing sink leaves no layout behind.
import { DaemonStore, EngineClient } from "../../image/daemon/index.js";
import { tagTarget } from "../../image/daemon/image-names.js";
import { pushImage } from "../../image/registry-writer.js";
import type { Image } from "../../image/types.js";
import { RegistryClient } from "../../registry/client.js";
import { DefaultKeychain } from "../../registry/keychain.js";
import { Reference } from "../../registry/reference.js";

/** A destination of the built image. */
export interface ImageSink {
  /** What it writes to, for messages (`registry.example.com/cnb/lifecycle:0.1.0`). */
  readonly description: string;
  /** Writes the image; resolves with the lines to report. */
  write(image: Image): Promise<string[]>;
}

/** A destination could not take the image. */
export class ImageSinkError extends Error {
  override name = "ImageSinkError";
}

/** Parses `--push` references up front (a typo fails before anything is built). */
export function parsePushReferences(values: readonly string[]): Reference[] {
  return values.map((value) => {
    try {
      return Reference.parse(value);
    } catch (err) {
      throw new ImageSinkError(`invalid --push reference ${JSON.stringify(value)}: ${err instanceof Error ? err.message : String(err)}`);
    }
  });
}

/**
 * Pushes to one or more references with this project's registry client: credentials from
 * `CNB_REGISTRY_AUTH` or the docker config in `env` (as the lifecycle reads them), plain HTTP
 * allowed for loopback and private hosts.
 */
export function registrySink(references: readonly Reference[], env: NodeJS.ProcessEnv): ImageSink {
  const names = references.map((r) => r.original).join(", ");
  return {
    description: names,
    async write(image) {
      const client = new RegistryClient({ keychain: new DefaultKeychain({ env }), env });
      try {
        const pushed = await pushImage(client, image, references);
        return references.map((r) => `pushed ${r.original} (${pushed.digest})`);
      } catch (err) {
        throw new ImageSinkError(`cannot push to ${names}: ${err instanceof Error ? err.message : String(err)}`);
      } finally {
        await client.close();
      }
    },
  };
}

/** Checks `--load` names up front: references the daemon can tag (a name and tag, not a digest). */
export function parseLoadNames(values: readonly string[]): string[] {
  return values.map((value) => {
    try {
      tagTarget(value);
      return value;
    } catch (err) {
      throw new ImageSinkError(`invalid --load name ${JSON.stringify(value)}: ${err instanceof Error ? err.message : String(err)}`);
    }
  });
}

/**
 * Loads into the Docker daemon at DOCKER_HOST in `env` (default `unix:///var/run/docker.sock`) with
 * this project's daemon client, under the first name, tagged with the others.
 */
export function daemonSink(names: readonly string[], env: NodeJS.ProcessEnv): ImageSink {
  return {
    description: names.join(", "),
    async write(image) {
      let engine: EngineClient | undefined;
      let where = env.DOCKER_HOST || "unix:///var/run/docker.sock";
      try {
        engine = await EngineClient.connect({ env });
        where = engine.endpoint.display;
        const saved = await new DaemonStore(engine).save(image, names);
        const failed = saved.names.find((n) => n.error !== undefined);
        if (failed?.error) throw failed.error;
        return names.map((n) => `loaded ${n} into the Docker daemon at ${where} (image ${saved.displayId})`);
      } catch (err) {
        throw new ImageSinkError(`cannot load into the Docker daemon at ${where}: ${err instanceof Error ? err.message : String(err)}`);
      } finally {
        await engine?.close();
      }
    },
  };
}
