#!/usr/bin/env bash
# Prints the directory of every module listed in go.work, one per line,
# relative to the repository root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
sed -n 's/^[[:space:]]*\(\.\/[^[:space:]]*\)[[:space:]]*$/\1/p; s/^use[[:space:]]\+\(\.\/[^[:space:]()]*\)[[:space:]]*$/\1/p' go.work
