#!/bin/sh
# Creates Temporal's databases on PostgreSQL with the official schema tool (temporal-sql-tool, or the one built from
# the pinned module: go build -o temporal-sql-tool go.temporal.io/server/cmd/tools/sql); safe to run again.
#   POSTGRES_HOST, POSTGRES_PORT, POSTGRES_USER, SQL_PASSWORD   where and as whom
#   SCHEMA_DIR     the module's schema/postgresql/v12 (default: the admin-tools image's)
#   WAIT_SECONDS   how long to wait for PostgreSQL to answer (default 60)
set -eu
SCHEMA_DIR=${SCHEMA_DIR:-/etc/temporal/schema/postgresql/v12}
TOOL=${TEMPORAL_SQL_TOOL:-temporal-sql-tool}
tool() { "$TOOL" --plugin postgres12 --ep "$POSTGRES_HOST" -p "$POSTGRES_PORT" -u "$POSTGRES_USER" "$@"; }
# A bounded wait that needs no nc: pg_isready when it is there, else creating the first database (which fails
# only with "already exists" once the server answers).
ready() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h "$POSTGRES_HOST" -p "$POSTGRES_PORT"
    return
  fi
  out=$(tool --db temporal create-database 2>&1) || echo "$out" | grep -q "already exists"
}
waited=0
until ready; do
  waited=$((waited + 1))
  if [ "$waited" -ge "${WAIT_SECONDS:-60}" ]; then
    echo "temporal-schema: PostgreSQL at $POSTGRES_HOST:$POSTGRES_PORT did not answer in ${WAIT_SECONDS:-60}s" >&2
    exit 1
  fi
  sleep 1
done
for db in temporal temporal_visibility; do
  tool --db "$db" create-database 2>/dev/null || true # exists already
done
tool --db temporal setup-schema -v 0.0 2>/dev/null || true # versioned already
tool --db temporal update-schema -d "$SCHEMA_DIR/temporal/versioned"
tool --db temporal_visibility setup-schema -v 0.0 2>/dev/null || true
tool --db temporal_visibility update-schema -d "$SCHEMA_DIR/visibility/versioned"
