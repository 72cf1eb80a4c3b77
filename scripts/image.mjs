// `npm run image -- --launcher <file> [--push <ref>]...`: builds the lifecycle image into the OCI
// layout dist/image (src/tools/lifecycle-image/). Runs the TypeScript through scripts/run-ts.mjs in
// the repository root; relative paths on the command line start where npm was started (INIT_CWD).
import { runTs } from "./run-ts.mjs";

process.env.INIT_CWD ??= process.cwd();
process.exitCode = await runTs("src/tools/lifecycle-image/image-cli.ts", process.argv.slice(2));
