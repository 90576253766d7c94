#!/usr/bin/env bash
# postgres-rootfs.sh OUT.tar: the root filesystem of the real-pods tier's PostgreSQL 15 image, from
# Debian bookworm's packages (mmdebstrap, as root). The postgres user and group are 999, as in the
# official image, before the package's own scripts would create them with another id. Documentation,
# manuals, locales and apt's lists are left out. The entrypoint is added by the image packer
# (hack/realpods/docker-entrypoint.sh).
set -euo pipefail
out=${1:?usage: postgres-rootfs.sh OUT.tar}
tmp="${out%.tar}.tmp.tar"
mmdebstrap --variant=minbase --include=postgresql-15,ca-certificates \
	--essential-hook='echo "postgres:x:999:" >>"$1/etc/group"' \
	--essential-hook='echo "postgres:x:999:999:PostgreSQL administrator:/var/lib/postgresql:/bin/bash" >>"$1/etc/passwd"' \
	--essential-hook='echo "postgres:*:19000:0:99999:7:::" >>"$1/etc/shadow"' \
	--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
	--customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/*' \
	--customize-hook='rm -rf "$1"/var/lib/postgresql/15/main "$1"/etc/postgresql/15/main' \
	bookworm "$tmp"
mv "$tmp" "$out"
