#!/bin/sh
# The example deployment's PostgreSQL (Debian's package). On first start it
# creates the cluster in $PGDATA with a login role and a database named
# `cognate` (no superuser rights; password from the secret file), then runs
# the server, listening on every address with SCRAM-SHA-256 required.
set -eu
PGDATA=${PGDATA:-/var/lib/postgresql/data}
PASSWORD_FILE=${COGNATE_DATABASE_PASSWORD_FILE:-/run/secrets/cognate/database-password}
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)

mkdir -p "$PGDATA"
chown postgres:postgres "$PGDATA"
chmod 0700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  password=$(cat "$PASSWORD_FILE")
  case $password in *"'"*) echo "the database password must not contain a quote" >&2; exit 1 ;; esac
  # The superuser `postgres` logs in only through the local socket, as the
  # postgres user (peer); nothing logs in over TCP without a password.
  runuser -u postgres -- "$bin/initdb" -D "$PGDATA" -U postgres -E UTF8 --locale=C.UTF-8 \
    --auth-local=peer --auth-host=scram-sha-256 >/dev/null
  echo "host cognate cognate all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  printf "CREATE ROLE cognate LOGIN PASSWORD '%s';\nCREATE DATABASE cognate OWNER cognate;\n" "$password" \
    | runuser -u postgres -- "$bin/postgres" --single -D "$PGDATA" postgres >/dev/null
  echo "cognate-postgres: created the cluster in $PGDATA"
fi
exec runuser -u postgres -- "$bin/postgres" -D "$PGDATA" \
  -c listen_addresses='*' -c unix_socket_directories=/tmp
