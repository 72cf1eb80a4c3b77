import { join } from "node:path";
import { runTool } from "../process/run-tool.js";

/** An unpacked runtime bundle: `rootfs` holds the image's files with owners, modes and mtimes. */
export interface UnpackedImage {
  bundle: string;
  rootfs: string;
}

/** Unpacks `layoutDir:tag` with `umoci unpack` into `bundleDir` (which must not exist yet). */
export async function umociUnpack(layoutDir: string, tag: string, bundleDir: string): Promise<UnpackedImage> {
  await runTool("umoci", ["unpack", "--image", `${layoutDir}:${tag}`, bundleDir]);
  return { bundle: bundleDir, rootfs: join(bundleDir, "rootfs") };
}
