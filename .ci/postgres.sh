# Sourced by .ci/run: installs PostgreSQL from Debian's packages when missing, starts a throw-away cluster on
# loopback as the postgres user (it refuses to run as root), and exports RECEIPTFLOW_TEST_POSTGRES_URL. In CI a
# PostgreSQL that cannot be started is a failure: the store's tests must run against both databases.
start_postgres() {
  if [ "$(id -u)" != 0 ]; then
    echo "not root: cannot install PostgreSQL or run it as the postgres user" >&2
    return 1
  fi
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q postgresql >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q postgresql >/dev/null; } || return 1
  fi
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  PG_DIR=$(mktemp -d /tmp/receiptflow-pg.XXXXXX)
  chown postgres:postgres "$PG_DIR"
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  su postgres -s /bin/sh -c "$bin/initdb -D $PG_DIR/data -A trust -U postgres >/dev/null" || return 1
  su postgres -s /bin/sh -c "$bin/pg_ctl -D $PG_DIR/data -l $PG_DIR/log -w -o \"-c listen_addresses=127.0.0.1 -p $port -k $PG_DIR -c fsync=off\" start >/dev/null" || return 1
  trap 'su postgres -s /bin/sh -c "'"$bin"'/pg_ctl -D '"$PG_DIR"'/data -m fast stop >/dev/null" || true; rm -rf "'"$PG_DIR"'"' EXIT
  export RECEIPTFLOW_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
  echo "PostgreSQL $($bin/postgres --version | awk '{print $3}') on 127.0.0.1:$port"
}
