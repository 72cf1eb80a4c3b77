// Entry point of `npm run image` (scripts/image.mjs bundles and runs this file).
import { runImageCommand } from "./command-line.js";

process.exitCode = await runImageCommand(process.argv.slice(2));
