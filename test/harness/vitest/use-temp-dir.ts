import { makeTempDir } from "../process/temp-dir.js";
import { useResource } from "./use-resource.js";

/** A temporary directory for the current suite, removed in afterAll; returns its path accessor. */
export function useTempDir(prefix: string): () => string {
  const dir = useResource(`temp dir ${prefix}`, async () => {
    const temp = await makeTempDir(prefix);
    return { path: temp.path, stop: () => temp.remove() };
  });
  return () => dir().path;
}
