#!/usr/bin/env bash
# Renders the OLM bundle into Canopy's file-based catalog and validates the catalog.
#
# catalog/canopy/canopy.v<version>.yaml is `opm render bundle/` with no image, so every manifest of
# the bundle is inline in the olm.bundle blob (olm.bundle.object properties): a cluster can install
# it without pulling a bundle image. One file per release, named after the version in
# config/manifests/release.yaml; the files of earlier releases stay as they are. package.yaml and
# channel.yaml are written by hand: the upgrade graph (replaces, skipRange) lives in the channel
# entries, and catalog/catalog_test.go checks them against the CSV.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
: "${OPM:?set OPM to the opm binary (make catalog builds it)}"
cd "$root"

version="$(sed -n 's/^version: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' config/manifests/release.yaml)"
if [ -z "$version" ]; then
	echo "no version in config/manifests/release.yaml" >&2
	exit 1
fi
out="catalog/canopy/canopy.v${version}.yaml"
tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
"$OPM" render bundle/ -o yaml >"$tmp"
cat "$tmp" >"$out"
"$OPM" validate catalog/
