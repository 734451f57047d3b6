# shellcheck shell=bash
# Throwaway PostgreSQL cluster for tests.
#
#   source scripts/lib/pg.sh
#   pg_start_throwaway            # exports TEST_DATABASE_URL, PG_TMPDIR, PG_PORT, PG_BIN
#   trap pg_stop_throwaway EXIT
#
# The cluster lives in a fresh temporary directory, listens on 127.0.0.1 on a free port (its unix
# socket stays inside that directory), trusts every local connection, and trades durability for
# speed (fsync, synchronous_commit and full_page_writes off; PG_DURABLE=1 keeps them on). pg_stop_throwaway stops only the
# cluster this shell started and deletes its directory; it never touches any other server.

# Finds the newest installed PostgreSQL bin directory (with initdb), or returns 1.
pg__find_bin() {
    local candidate best
    # Pick the highest version numerically (so 15 beats 9).
    best="$(for candidate in /usr/lib/postgresql/*/bin; do
        [[ -x "$candidate/initdb" ]] && echo "$candidate"
    done | sort -t/ -k4,4n | tail -n1)"
    [[ -n "$best" ]] || return 1
    echo "$best"
}

# Runs a command as the cluster's owner: as is when not root, else as the `postgres` user.
pg__as_owner() {
    if [[ "$(id -u)" -eq 0 ]]; then
        runuser -u "${PG_OWNER:-postgres}" -- "$@"
    else
        "$@"
    fi
}

# True when something already listens on 127.0.0.1:$1.
pg__port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Prints a port that nothing listens on (random in 20000..59999).
pg__free_port() {
    local port tries=0
    while ((tries < 200)); do
        port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        if ! pg__port_busy "$port"; then
            echo "$port"
            return 0
        fi
        tries=$((tries + 1))
    done
    echo "pg.sh: no free port found" >&2
    return 1
}

# Makes sure the binaries exist (installing the Debian package only when none is present) and,
# when running as root, that the unprivileged `postgres` user exists.
pg__ensure_installed() {
    if ! PG_BIN="$(pg__find_bin)"; then
        echo "pg.sh: no PostgreSQL found; installing the postgresql package" >&2
        if [[ "$(id -u)" -ne 0 ]]; then
            echo "pg.sh: need root to install postgresql" >&2
            return 1
        fi
        DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null || return 1
        PG_BIN="$(pg__find_bin)" || {
            echo "pg.sh: initdb still missing after install" >&2
            return 1
        }
    fi
    if [[ "$(id -u)" -eq 0 ]] && ! id "${PG_OWNER:-postgres}" >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin "${PG_OWNER:-postgres}" || return 1
    fi
    export PG_BIN
}

# Starts a throwaway cluster and exports TEST_DATABASE_URL, PG_TMPDIR, PG_PORT and PG_BIN.
pg_start_throwaway() {
    if [[ -n "${PG_TMPDIR:-}" && -f "${PG_TMPDIR}/data/postmaster.pid" ]]; then
        echo "pg.sh: a throwaway cluster is already running in $PG_TMPDIR" >&2
        return 0
    fi
    pg__ensure_installed || return 1
    local dir port attempt
    dir="$(mktemp -d "${TMPDIR:-/tmp}/pg-throwaway.XXXXXX")" || return 1
    if [[ "$(id -u)" -eq 0 ]]; then
        chown "${PG_OWNER:-postgres}" "$dir" || return 1
    fi
    chmod 700 "$dir"
    if ! pg__as_owner "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth=trust \
        --encoding=UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1; then
        pg__as_owner "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth=trust \
            --encoding=UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 || {
            cat "$dir/initdb.log" >&2
            rm -rf "$dir"
            return 1
        }
    fi
    # PG_DURABLE=1 keeps PostgreSQL's durable defaults (for benchmarks that report durable
    # figures); tests trade durability for speed.
    local durability="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    [[ "${PG_DURABLE:-}" == 1 ]] && durability="-c fsync=on -c synchronous_commit=on -c full_page_writes=on"
    for attempt in 1 2 3 4 5; do
        port="$(pg__free_port)" || break
        if pg__as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
            -o "-p $port -k $dir -c listen_addresses=127.0.0.1 $durability \
-c max_connections=300 -c shared_buffers=128MB -c max_locks_per_transaction=256" \
            start >/dev/null 2>&1; then
            export PG_TMPDIR="$dir" PG_PORT="$port"
            export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
            echo "pg.sh: throwaway PostgreSQL on 127.0.0.1:$port ($dir)" >&2
            return 0
        fi
        echo "pg.sh: start attempt $attempt on port $port failed" >&2
    done
    cat "$dir/server.log" >&2 2>/dev/null
    rm -rf "$dir"
    return 1
}

# Stops the cluster started by pg_start_throwaway in this shell and deletes its directory.
pg_stop_throwaway() {
    local dir="${PG_TMPDIR:-}"
    [[ -n "$dir" && -d "$dir" ]] || return 0
    case "$dir" in
    "${TMPDIR:-/tmp}"/pg-throwaway.*) ;;
    *)
        echo "pg.sh: refusing to remove unexpected directory $dir" >&2
        return 1
        ;;
    esac
    if [[ -f "$dir/data/postmaster.pid" ]]; then
        pg__as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    unset PG_TMPDIR PG_PORT TEST_DATABASE_URL
}
