#!/bin/sh
# Starts or stops a throw-away PostgreSQL server on 127.0.0.1 for manual tests and demos of the
# conditions database (the Rust tests start their own through hepinfer_conddb::testserver).
#
#   scripts/postgres-test-server.sh start DIR [PORT]   # prints the URL of database `conditions`
#   scripts/postgres-test-server.sh stop DIR
#
# Needs Debian's `postgresql` package (apt-get install postgresql) or HEPINFER_PG_BINDIR.
# As root, the server runs as the `postgres` user (PostgreSQL refuses to run as root).
set -eu

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR [PORT]" >&2; exit 1; }

bindir=${HEPINFER_PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
[ -x "$bindir/pg_ctl" ] || { echo "PostgreSQL not found: apt-get install postgresql or set HEPINFER_PG_BINDIR" >&2; exit 1; }

as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
start)
    port=${3:-55432}
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        as_pg "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >"$dir/initdb.log"
    fi
    as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
        -o "-p $port -c listen_addresses=127.0.0.1 -k $dir" start >/dev/null
    as_pg "$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -qtc \
        "SELECT 1 FROM pg_database WHERE datname = 'conditions'" | grep -q 1 ||
        as_pg "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres conditions
    echo "postgresql://postgres@127.0.0.1:$port/conditions"
    ;;
stop)
    as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    ;;
*)
    echo "usage: $0 start|stop DIR [PORT]" >&2; exit 1 ;;
esac
