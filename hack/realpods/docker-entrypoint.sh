#!/usr/bin/env bash
# The entrypoint of the real-pods tier's PostgreSQL image (localhost/canopy-e2e/postgres:15): the
# part of the official postgres image's docker-entrypoint.sh contract that Canopy relies on
# (docs/real-pods.md lists it, and e2e/real exercises each item):
#   - arguments starting with "-" are postgres's: `-c config_file=...` runs `postgres -c ...`;
#   - PGDATA names the data directory, created with mode 0700 when missing;
#   - on an empty PGDATA: initdb with POSTGRES_USER as superuser and POSTGRES_PASSWORD as its
#     password (required), POSTGRES_INITDB_ARGS added; pg_hba.conf lets every host in with
#     scram-sha-256; POSTGRES_DB (default POSTGRES_USER) is created; then every file of
#     /docker-entrypoint-initdb.d in name order: *.sh run (executable) or sourced, *.sql fed to
#     psql, against a temporary server that listens on the Unix socket only, started with the same
#     arguments (so with the same configuration file);
#   - an initialised PGDATA is used as it is; the scripts do not run again;
#   - it runs as the postgres user, uid 999 (the image's user), and writes nothing outside PGDATA,
#     /var/run/postgresql and /tmp (the root file system may be read-only).
set -Eeuo pipefail

if [ "${1:0:1}" = '-' ]; then
	set -- postgres "$@"
fi
if [ "$1" != postgres ]; then
	exec "$@"
fi

: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
export PGDATA POSTGRES_USER POSTGRES_DB

mkdir -p "$PGDATA"
chmod 0700 "$PGDATA" 2>/dev/null || :

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	if [ -z "${POSTGRES_PASSWORD:-}" ]; then
		echo 'error: the database is uninitialized and POSTGRES_PASSWORD is not set' >&2
		exit 1
	fi
	# shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of words, as in the official image
	initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") ${POSTGRES_INITDB_ARGS:-}
	printf '\nhost all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"

	# The temporary server: the same arguments, no TCP.
	PGUSER="$POSTGRES_USER" pg_ctl -D "$PGDATA" -w start \
		-o "$(printf '%q ' "${@:2}") -c listen_addresses='' -p ${PGPORT:-5432}"
	psql=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc)
	if [ "$POSTGRES_DB" != postgres ]; then
		"${psql[@]}" --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
	fi
	for f in /docker-entrypoint-initdb.d/*; do
		case "$f" in
		*.sh)
			if [ -x "$f" ]; then
				echo "running $f"
				"$f"
			else
				echo "sourcing $f"
				# shellcheck disable=SC1090
				. "$f"
			fi
			;;
		*.sql)
			echo "running $f"
			"${psql[@]}" --dbname "$POSTGRES_DB" -f "$f"
			;;
		*) [ -e "$f" ] && echo "ignoring $f" ;;
		esac
	done
	PGUSER="$POSTGRES_USER" pg_ctl -D "$PGDATA" -m fast -w stop
	echo 'PostgreSQL init process complete; ready for start up.'
fi

exec "$@"
