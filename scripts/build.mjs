// Bundles the CLI into dist/lifecycle/lifecycle (one CommonJS file, so it runs wherever it is
// copied, with or without a package.json nearby), adds the phase symlinks and lifecycle.toml.
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { chmod, mkdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "dist", "lifecycle");
const pkg = JSON.parse(await readFile(join(root, "package.json"), "utf8"));
const apis = JSON.parse(await readFile(join(root, "src", "platform", "apis.json"), "utf8"));

function gitCommit() {
  if (process.env.LIFECYCLE_COMMIT !== undefined) return process.env.LIFECYCLE_COMMIT;
  try {
    return execFileSync("git", ["rev-parse", "--short=8", "HEAD"], { cwd: root, stdio: ["ignore", "pipe", "ignore"] })
      .toString()
      .trim();
  } catch {
    return "";
  }
}

export const PHASE_LINKS = ["analyzer", "restorer", "exporter", "rebaser"];

export async function buildLifecycle({ outDir = out, quiet = false } = {}) {
  const commit = gitCommit();
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  const target = join(outDir, "lifecycle");
  await build({
    entryPoints: [join(root, "src", "main.ts")],
    outfile: target,
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    minifySyntax: true,
    minifyWhitespace: true,
    legalComments: "none",
    banner: { js: "#!/usr/bin/env node" },
    define: {
      __LIFECYCLE_VERSION__: JSON.stringify(pkg.version),
      __LIFECYCLE_COMMIT__: JSON.stringify(commit),
    },
    logLevel: quiet ? "error" : "warning",
  });
  await chmod(target, 0o755);
  for (const name of PHASE_LINKS) await symlink("lifecycle", join(outDir, name));
  await writeFile(join(outDir, "lifecycle.toml"), lifecycleToml(pkg.version));
  // Scope the extensionless bundle as CommonJS even though the repository is "type": "module".
  await writeFile(join(dirname(outDir), "package.json"), '{\n  "type": "commonjs"\n}\n');
  return target;
}

function list(values) {
  return `[${values.map((v) => JSON.stringify(v)).join(", ")}]`;
}

export function lifecycleToml(version) {
  return [
    "[apis]",
    "[apis.buildpack]",
    `  deprecated = ${list(apis.buildpack.deprecated)}`,
    `  supported = ${list(apis.buildpack.supported)}`,
    "[apis.platform]",
    `  deprecated = ${list(apis.platform.deprecated)}`,
    `  supported = ${list(apis.platform.supported)}`,
    "",
    "[api]",
    `  platform = ${JSON.stringify(apis.platform.supported[0])}`,
    `  buildpack = ${JSON.stringify(apis.buildpack.supported[0])}`,
    "",
    "[lifecycle]",
    `  version = ${JSON.stringify(version)}`,
    "",
  ].join("\n");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const target = await buildLifecycle();
  console.log(`built ${target}`);
}
