#!/usr/bin/env bash
# Regenerates deepcopy, CRDs, RBAC, the OLM bundle and, when OPM names the opm binary, the file-based
# catalog in a scratch copy of the tree and fails when the result
# differs from the files in the working tree, so stale generated files never reach main.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
: "${CONTROLLER_GEN:?set CONTROLLER_GEN to the controller-gen binary}"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

cd "$root"
# Tracked and untracked-but-not-ignored files: what a commit of the working tree would hold.
git ls-files -z -co --exclude-standard | while IFS= read -r -d '' f; do
	[ -e "$f" ] && printf '%s\0' "$f"
done | tar --null -T - -cf - | tar -xf - -C "$scratch"

cd "$scratch"
make --no-print-directory -s manifests generate CONTROLLER_GEN="$CONTROLLER_GEN" BIN="$root/bin" >/dev/null
# The bundle after the CRDs and RBAC it is made from.
make --no-print-directory -s bundle BIN="$root/bin" >/dev/null
dirs=(apis config/crd/bases config/rbac config/namespaced bundle/manifests bundle/metadata bundle/tests)
# The catalog after the bundle it is rendered from. `make verify-generated` always builds opm; run
# by hand without OPM, the catalog is not checked, and this says so.
if [ -n "${OPM:-}" ] && [ -x "$OPM" ]; then
	make --no-print-directory -s catalog OPM="$OPM" BIN="$root/bin" >/dev/null
	dirs+=(catalog)
else
	echo "verify-generated: OPM not set or not executable; catalog/ not checked (make verify-generated builds opm)" >&2
fi

status=0
for dir in "${dirs[@]}"; do
	if ! diff -ru --exclude='*.go.orig' "$root/$dir" "$scratch/$dir"; then
		status=1
	fi
done
if [ "$status" -ne 0 ]; then
	echo "generated files are stale: run 'make manifests generate bundle catalog' and commit the result" >&2
fi
exit "$status"
