import { LifecycleError, errorMessage } from "../platform/errors.js";
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
  /** The phase needs a Docker daemon connection (`-daemon`), which this lifecycle does not provide. */
  readonly daemon?: boolean;
}

/** The Docker daemon is not available to this implementation; registry and OCI layout modes are. */
export function daemonUnsupported(): LifecycleError {
  return new LifecycleError(
    ExitCode.Failed,
    "failed to initialize docker client: exporting to or reading from a Docker daemon is not supported by this lifecycle; use a registry or -layout",
  );
}

/**
 * Builds the keychain (exit 1 `failed to resolve keychain`), pre-resolves credentials, chowns the
 * volumes (exit 1 `failed to chown volumes`) and switches to uid:gid (exit 1 `failed to exec as user`).
 */
export async function ensurePrivileges(setup: PrivilegeSetup): Promise<DefaultKeychain> {
  let keychain: DefaultKeychain;
  try {
    keychain = setup.keychain ?? new DefaultKeychain({ env: setup.env });
    const registries = setup.images.map(registryOf).filter((r): r is string => r !== undefined);
    await keychain.prime(registries);
  } catch (err) {
    throw new LifecycleError(ExitCode.Failed, `failed to resolve keychain: ${errorMessage(err)}`, { cause: err });
  }
  if (setup.daemon) throw daemonUnsupported();
  await ensureOwner(setup.uid, setup.gid, setup.chown);
  runAs(setup.uid, setup.gid);
  return keychain;
}
