#!/bin/sh
# Temporal's two PostgreSQL databases (persistence and visibility): created, then brought to
# the schema of this admin-tools image's server version. Run by temporalio/admin-tools before
# the server starts (docker-compose.yml), and again before each server upgrade; every step is
# a no-op when already done. temporal-sql-tool reads the password from SQL_PASSWORD.
set -eu
: "${POSTGRES_SEEDS:?}" "${POSTGRES_USER:?}" "${SQL_PASSWORD:?}"
DB_PORT="${DB_PORT:-5432}"
SCHEMA_DIR="${SCHEMA_DIR:-/etc/temporal/schema/postgresql/v12}"

until nc -z "$POSTGRES_SEEDS" "$DB_PORT"; do
  echo "waiting for PostgreSQL at $POSTGRES_SEEDS:$DB_PORT"
  sleep 1
done

sql() {
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" \
    -u "$POSTGRES_USER" "$@"
}

for target in "${DBNAME:-temporal}:temporal" "${VISIBILITY_DBNAME:-temporal_visibility}:visibility"; do
  db="${target%%:*}"
  schema="${target#*:}"
  # an existing database is not a failure; setup-schema below fails on any real one
  sql --db "$db" create || echo "database $db not created (it exists?); going on"
  sql --db "$db" setup-schema -v 0.0
  sql --db "$db" update-schema -d "$SCHEMA_DIR/$schema/versioned"
done
echo "Temporal schema ready"
