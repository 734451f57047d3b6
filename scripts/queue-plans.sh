#!/usr/bin/env bash
# Query plans and timings of the waiting line at scale: a poll (place-in-line lookup) of a token
# near the back of the line, and one admission tick, with 10k, 100k and 1M WAITING tokens in one
# concert's line, then with 1% of the line departed, then with 1% idle but not yet swept.
#
#   scripts/queue-plans.sh            # prints plans and a summary table; takes a minute or two
#
# Starts its own throwaway PostgreSQL (scripts/lib/pg.sh: never touches another server, removed
# at the end), applies the migrations with the binary's `migrate` subcommand (CONCERT_BIN, e.g.
# target/release/concert-reservation, or a debug build made here), and explains the
# statements the store really runs: a test of adapters-postgres writes them out as PREPARE
# statements (crates/adapters-postgres/src/queue.rs, `queue_statements_for_the_plans_script`).
# Each EXPLAIN ANALYZE of a writing statement runs inside a transaction that is rolled back.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=lib/pg.sh
source scripts/lib/pg.sh

work="$(mktemp -d "${TMPDIR:-/tmp}/queue-plans.XXXXXX")"
cleanup() {
    pg_stop_throwaway || true
    rm -rf "$work"
}
trap cleanup EXIT

echo "==> the store's queue statements" >&2
QUEUE_PLANS_SQL_OUT="$work/statements.sql" cargo test -q -p adapters-postgres --lib \
    -- --exact queue::tests::queue_statements_for_the_plans_script >&2
[[ -s "$work/statements.sql" ]] || {
    echo "queue-plans.sh: no statements written" >&2
    exit 1
}

# The binary whose `migrate` applies the schema: $CONCERT_BIN, else a freshly built debug one
# (a stale release binary could lack the newest migrations).
bin="${CONCERT_BIN:-}"
if [[ -z "$bin" ]]; then
    echo "==> building the binary" >&2
    cargo build -q --bin concert-reservation >&2
    bin="$(cargo metadata --format-version 1 --no-deps |
        sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/debug/concert-reservation"
fi

echo "==> throwaway PostgreSQL" >&2
pg_start_throwaway
DATABASE_URL="$TEST_DATABASE_URL" RUST_LOG=warn "$bin" migrate >&2

psql_() {
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$TEST_DATABASE_URL" "$@"
}

# The service's defaults: idle timeout 300 s, active window 600 s, batch 100, max active 1000.
IDLE_US=300000000
TTL_US=600000000
CONCERT=1

# One concert whose line already admitted 1,000 tokens (900 used their window, 100 are ACTIVE).
psql_ <<'SQL'
INSERT INTO concerts (title, venue) VALUES ('At scale', 'Stadium');
INSERT INTO concert_queues (concert_id) VALUES (1);
WITH c AS (
    UPDATE concert_queues SET next_seq = next_seq + 1000, admitted_through = next_seq + 1000
    WHERE concert_id = 1 RETURNING next_seq - 1000 AS from_seq)
INSERT INTO queue_tokens (id, user_id, concert_id, seq, status, admitted_at, active_until,
                          last_polled_at)
SELECT gen_random_uuid(), g, 1, g,
       CASE WHEN g > 900 THEN 'ACTIVE' ELSE 'EXPIRED' END,
       now() - interval '1 minute',
       CASE WHEN g > 900 THEN now() + interval '9 minutes' ELSE now() - interval '1 second' END,
       now() - interval '1 minute'
FROM c, generate_series(c.from_seq + 1, c.from_seq + 1000) g;
SQL

# Adds $1 WAITING tokens at the back of the line, numbered on from the counter row, in one
# statement (the counter moves in the same statement, as a join moves it in its transaction).
add_waiting() {
    psql_ -v n="$1" <<'SQL'
WITH c AS (
    UPDATE concert_queues SET next_seq = next_seq + :n
    WHERE concert_id = 1 RETURNING next_seq - :n AS from_seq)
INSERT INTO queue_tokens (id, user_id, concert_id, seq, status)
SELECT gen_random_uuid(), g, 1, g, 'WAITING'
FROM c, generate_series(c.from_seq + 1, c.from_seq + :n) g;
VACUUM ANALYZE queue_tokens;
VACUUM ANALYZE concert_queues;
SQL
}

summary="$work/summary.txt"
: >"$summary"

# Explains a poll of the token 10 places from the back, the operator statistics, and one
# admission tick (rolled back); then times the poll and the tick without EXPLAIN; and records
# the numbers under the label $1.
measure() {
    local label="$1" out="$work/plan.txt"
    echo
    echo "################################################################################"
    echo "# $label"
    echo "################################################################################"
    psql_ -v idle="$IDLE_US" -v ttl="$TTL_US" -v concert="$CONCERT" >"$out" <<SQL
SET plan_cache_mode = force_generic_plan;  -- the worst case of the store's cached plans
$(cat "$work/statements.sql")
SELECT next_seq, admitted_through FROM concert_queues WHERE concert_id = :concert \\gset
SELECT count(*) FILTER (WHERE status = 'WAITING') AS waiting,
       count(*) FILTER (WHERE departed_waiting) AS departed,
       count(*) AS issued
FROM queue_tokens WHERE concert_id = :concert;
SELECT id AS token, user_id AS token_user FROM queue_tokens WHERE concert_id = :concert AND seq = :next_seq - 10 \\gset
EXECUTE standing(:'token') \\gset s_
\\echo POSITION :s_position of seq :s_seq status :s_status
\\echo '--- poll: the place-in-line lookup (STANDING)'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE standing(:'token');
\\echo '--- a batch of polls: touch and standing in one statement (rolled back)'
BEGIN;
EXPLAIN (ANALYZE, BUFFERS) EXECUTE poll_batch(ARRAY[:'token']::uuid[], ARRAY[:token_user]::int8[]);
ROLLBACK;
\\echo '--- operator statistics (STATS)'
EXPLAIN (ANALYZE, BUFFERS) EXECUTE admin_stats(:concert);
\\echo '--- admission tick (rolled back)'
BEGIN;
EXECUTE admit_lock_timeout('2000');
EXPLAIN (ANALYZE, BUFFERS) EXECUTE admit_lock(:concert);
SET LOCAL lock_timeout TO DEFAULT;
EXPLAIN (ANALYZE, BUFFERS) EXECUTE admit_line(:concert);
EXECUTE admit_line(:concert) \\gset line_
-- the quota, as the store computes it in Rust from that row (NULL settings: the defaults)
SELECT least(coalesce(max_active, 1000) - :line_active, coalesce(admit_batch, 100)) AS quota
FROM concert_queues WHERE concert_id = :concert \\gset
\\echo QUOTA :quota
EXPLAIN (ANALYZE, BUFFERS) EXECUTE admit_pick(:concert, :line_admitted_through, :quota, :ttl);
SELECT max(seq) AS through, count(*) AS admitted FROM queue_tokens
WHERE concert_id = :concert AND status = 'ACTIVE' AND seq > :line_admitted_through \\gset
\\echo ADMITTED :admitted through seq :through
EXPLAIN (ANALYZE, BUFFERS) EXECUTE admit_advance(:concert, :through, now(), :admitted);
EXPLAIN (ANALYZE, BUFFERS) EXECUTE admit_record(:concert, :admitted);
EXPLAIN (ANALYZE, BUFFERS) EXECUTE admit_prune(:concert);
ROLLBACK;
\\echo '--- wall-clock, without EXPLAIN: 5 polls'
\\timing on
EXECUTE standing(:'token') \\g /dev/null
EXECUTE standing(:'token') \\g /dev/null
EXECUTE standing(:'token') \\g /dev/null
EXECUTE standing(:'token') \\g /dev/null
EXECUTE standing(:'token') \\g /dev/null
\\timing off
\\echo '--- wall-clock, without EXPLAIN: one admission tick, statement by statement (rolled back)'
\\timing on
BEGIN;
EXECUTE admit_lock_timeout('2000') \\g /dev/null
EXECUTE admit_lock(:concert) \\g /dev/null
SET LOCAL lock_timeout TO DEFAULT;
EXECUTE admit_line(:concert) \\g /dev/null
EXECUTE admit_pick(:concert, :line_admitted_through, :quota, :ttl) \\g /dev/null
EXECUTE admit_advance(:concert, :through, now(), :admitted);
EXECUTE admit_record(:concert, :admitted);
EXECUTE admit_prune(:concert);
ROLLBACK;
\\timing off
SQL
    cat "$out"
    local times walls
    mapfile -t times < <(grep -o 'Execution Time: [0-9.]* ms' "$out" | grep -o '[0-9.]*')
    mapfile -t walls < <(grep -o '^Time: [0-9.]* ms' "$out" | grep -o '[0-9.]*')
    local waiting departed position poll_median tick_wall tick_exec
    waiting="$(awk '/^ *waiting *\| *departed/ {getline; getline; print $1; exit}' "$out")"
    departed="$(awk '/^ *waiting *\| *departed/ {getline; getline; print $3; exit}' "$out")"
    position="$(awk '/^POSITION/ {print $2; exit}' "$out")"
    # walls: 5 polls, then the tick: BEGIN, its statements, ROLLBACK.
    poll_median="$(printf '%s\n' "${walls[@]:0:5}" | sort -n | sed -n 3p)"
    tick_wall="$(printf '%s\n' "${walls[@]:5}" | awk '{s += $1} END {printf "%.3f", s}')"
    tick_exec="$(printf '%s\n' "${times[@]:3:6}" | awk '{s += $1} END {printf "%.3f", s}')"
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$label" "$waiting" \
        "$departed" "$position" "${times[0]:-?}" "$poll_median" "${times[2]:-?}" \
        "${times[5]:-?}" "$tick_exec" "$tick_wall" >>"$summary"
}

add_waiting 10000
measure "10k waiting"
add_waiting 90000
measure "100k waiting"
add_waiting 900000
measure "1M waiting"

# 1% of the line (every 100th token, spread over the whole line) left while waiting.
psql_ <<'SQL'
UPDATE queue_tokens SET status = 'EXPIRED', departed_waiting = true
WHERE concert_id = 1 AND status = 'WAITING' AND seq % 100 = 0;
VACUUM ANALYZE queue_tokens;
SQL
measure "1M issued, 1% departed"

# Another 1% stopped polling past the idle timeout and the sweep has not run yet.
psql_ <<'SQL'
UPDATE queue_tokens SET last_polled_at = now() - interval '10 minutes'
WHERE concert_id = 1 AND status = 'WAITING' AND seq % 100 = 50;
VACUUM ANALYZE queue_tokens;
SQL
measure "1M issued, 1% departed, 1% idle unswept"

echo
echo "Times in ms. \"exec\": Execution Time of EXPLAIN (ANALYZE, BUFFERS); \"wall\": psql \\timing"
echo "without EXPLAIN, client round trips included (poll: median of 5; tick: sum of its statements)."
echo
echo "| line | waiting | departed | position polled | poll exec | poll wall | stats exec | admit pick exec | tick exec | tick wall |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
cat "$summary"
