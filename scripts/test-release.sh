#!/usr/bin/env bash
# CI step for the release: build the single executable (npm run release), then run the acceptance
# suite against dist/release/lifecycle with no node on the binaries' PATH (the test runner keeps its own).
set -euo pipefail
cd "$(dirname "$0")/.."

npm run release
LIFECYCLE_DIR=dist/release/lifecycle LIFECYCLE_PATH_WITHOUT_NODE=1 npx vitest run --project acceptance
