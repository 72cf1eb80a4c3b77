import { EngineClient } from "../image/daemon/index.js";
import type { LifecycleError } from "../platform/errors.js";
import { failErr } from "../platform/errors.js";
import { ExitCode } from "../platform/exit-codes.js";
import { ensureOwner, runAs } from "../platform/privileges.js";
import { DefaultKeychain } from "../registry/keychain.js";
import { registryOf } from "../registry/reference.js";

/** What a phase needs to set up before running as the build user (contract §1.8). */
export interface PrivilegeSetup {
  readonly env: NodeJS.ProcessEnv;
  /** Images whose registries' docker-config credentials are resolved now, while still privileged. */
  readonly images: readonly string[];
  /** Directories to make owned by uid:gid (unless already writable by them). */
  readonly chown: readonly string[];
  readonly uid: number;
  readonly gid: number;
  /** A keychain built earlier (the analyzer needs one to select a run image mirror). */
  readonly keychain?: DefaultKeychain;
  /**
   * `-daemon`: connect to the Docker daemon now, while privileged (the socket may be root's only).
   * `"required"`: a failure is exit 1 `failed to initialize docker client`; `"optional"`: the
   * failure is returned instead, for a phase that may never need the daemon (the restorer).
   */
  readonly daemon?: "required" | "optional";
}

/** What was set up while privileged. */
export interface Privileged {
  readonly keychain: DefaultKeychain;
  /** The daemon connection (`-daemon`), or why there is none. */
  readonly daemon?: EngineClient | Error;
}

function dockerClientError(err: unknown): LifecycleError {
  return failErr(ExitCode.Failed, "initialize docker client", err);
}

/**
 * Builds the keychain (exit 1 `failed to resolve keychain`), pre-resolves credentials, connects to
 * the Docker daemon with `-daemon`, chowns the volumes (exit 1 `failed to chown volumes`) and
 * switches to uid:gid (exit 1 `failed to exec as user`), in that order (contract §1.8).
 */
export async function ensurePrivileges(setup: PrivilegeSetup): Promise<Privileged> {
  let keychain: DefaultKeychain;
  try {
    keychain = setup.keychain ?? new DefaultKeychain({ env: setup.env });
    const registries = setup.images.map(registryOf).filter((r): r is string => r !== undefined);
    await keychain.prime(registries);
  } catch (err) {
    throw failErr(ExitCode.Failed, "resolve keychain", err);
  }
  let daemon: EngineClient | Error | undefined;
  if (setup.daemon) {
    try {
      daemon = await EngineClient.connect({ env: setup.env });
    } catch (err) {
      if (setup.daemon === "required") throw dockerClientError(err);
      daemon = dockerClientError(err);
    }
  }
  await ensureOwner(setup.uid, setup.gid, setup.chown);
  runAs(setup.uid, setup.gid);
  return { keychain, ...(daemon ? { daemon } : {}) };
}
