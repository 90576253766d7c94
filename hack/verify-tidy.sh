#!/usr/bin/env bash
# Fails when `go mod tidy` would change go.mod or go.sum of the main module, a tools module or a
# test module (test/*/ and bench/: modules of their own so their dependencies stay out of Canopy's
# go.mod).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
status=0
for mod in "$root" "$root"/hack/tools/*/ "$root"/test/*/ "$root"/bench/; do
	( cd "$mod" && go mod tidy -diff ) || { echo "go.mod/go.sum not tidy in ${mod#"$root"/}: run 'go mod tidy' there" >&2; status=1; }
done
exit "$status"
