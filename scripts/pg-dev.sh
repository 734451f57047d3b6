#!/usr/bin/env bash
# A persistent local PostgreSQL for development.
#
#   scripts/pg-dev.sh [start]   # initialises ./.pgdata on first use, starts it, prints DATABASE_URL
#   scripts/pg-dev.sh stop      # stops it (data is kept)
#   scripts/pg-dev.sh status
#   scripts/pg-dev.sh destroy   # stops it and deletes ./.pgdata
#
# PG_DEV_PORT overrides the port (default 5433). The server listens on 127.0.0.1 only and trusts
# local connections: it is for development, never for production data.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=lib/pg.sh
source scripts/lib/pg.sh

port="${PG_DEV_PORT:-5433}"
data="$PWD/.pgdata"
url="postgres://postgres@127.0.0.1:$port/concert"

pg__ensure_installed

running() {
    [[ -f "$data/postmaster.pid" ]] && pg__as_owner "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1
}

case "${1:-start}" in
start)
    if [[ ! -f "$data/PG_VERSION" ]]; then
        mkdir -p "$data"
        chmod 700 "$data"
        [[ "$(id -u)" -eq 0 ]] && chown "${PG_OWNER:-postgres}" "$data"
        pg__as_owner "$PG_BIN/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 \
            --locale=C.UTF-8 >/dev/null
    fi
    if running; then
        echo "development PostgreSQL already running" >&2
    else
        if pg__port_busy "$port"; then
            echo "port $port is taken; set PG_DEV_PORT" >&2
            exit 1
        fi
        pg__as_owner "$PG_BIN/pg_ctl" -D "$data" -l "$data/server.log" -w -t 30 \
            -o "-p $port -k $data -c listen_addresses=127.0.0.1" start >/dev/null
    fi
    "$PG_BIN/psql" -q "postgres://postgres@127.0.0.1:$port/postgres" -tAc \
        "SELECT 1 FROM pg_database WHERE datname = 'concert'" | grep -q 1 ||
        "$PG_BIN/psql" -q "postgres://postgres@127.0.0.1:$port/postgres" -c "CREATE DATABASE concert"
    echo "development PostgreSQL is running (data in $data)."
    echo "  export DATABASE_URL=$url"
    echo "  stop it with: scripts/pg-dev.sh stop"
    ;;
stop)
    if running; then
        pg__as_owner "$PG_BIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null
        echo "stopped"
    else
        echo "not running"
    fi
    ;;
status)
    if running; then echo "running: DATABASE_URL=$url"; else echo "not running"; fi
    ;;
destroy)
    if running; then pg__as_owner "$PG_BIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null; fi
    rm -rf "$data"
    echo "removed $data"
    ;;
*)
    echo "usage: $0 [start|stop|status|destroy]" >&2
    exit 2
    ;;
esac
