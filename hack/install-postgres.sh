#!/usr/bin/env bash
# Installs the PostgreSQL 15 server binaries (Debian package postgresql-15) that the
# tests of internal/pgadmin start in a temporary directory. Idempotent: does nothing
# when /usr/lib/postgresql/15/bin/initdb is already there. Needs root (apt-get).
set -euo pipefail

PG_BIN=/usr/lib/postgresql/15/bin

if [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ] && [ -x "$PG_BIN/postgres" ]; then
	echo "install-postgres: PostgreSQL 15 already installed in $PG_BIN"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "install-postgres: must run as root to install postgresql-15 with apt-get (re-run with sudo)" >&2
	exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-postgres: apt-get not found; install PostgreSQL 15 so that $PG_BIN/initdb exists" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends postgresql-15

if [ ! -x "$PG_BIN/initdb" ]; then
	echo "install-postgres: postgresql-15 installed but $PG_BIN/initdb is missing" >&2
	exit 1
fi
echo "install-postgres: installed PostgreSQL 15 in $PG_BIN"
