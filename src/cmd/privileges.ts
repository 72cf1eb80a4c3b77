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
}

/**
 * Builds the keychain (exit 1 `failed to resolve keychain`), pre-resolves credentials, chowns the
 * volumes (exit 1 `failed to chown volumes`) and switches to uid:gid (exit 1 `failed to exec as user`).
 */
export async function ensurePrivileges(setup: PrivilegeSetup): Promise<DefaultKeychain> {
  let keychain: DefaultKeychain;
  try {
    keychain = new DefaultKeychain({ env: setup.env });
    const registries = setup.images.map(registryOf).filter((r): r is string => r !== undefined);
    await keychain.prime(registries);
  } catch (err) {
    throw new LifecycleError(ExitCode.Failed, `failed to resolve keychain: ${errorMessage(err)}`, { cause: err });
  }
  await ensureOwner(setup.uid, setup.gid, setup.chown);
  runAs(setup.uid, setup.gid);
  return keychain;
}
