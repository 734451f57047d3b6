-- The count of idle-but-unswept tokens ahead of a place in line (the STANDING and STATS queries
-- of crates/adapters-postgres/src/queue.rs) filters on (concert_id, last_polled_at, seq). With
-- seq outside the index, PostgreSQL planned that count as a BitmapAnd of the idle index with a
-- range scan of queue_tokens_seq_key over the whole line (1M entries: ~50 ms per poll, see
-- docs/queue-at-scale.md). With seq in the index the count is an index-only scan of the
-- concert's idle entries: O(idle tokens), independent of the line's length.
DROP INDEX queue_tokens_idle_by_concert;
CREATE INDEX queue_tokens_idle_by_concert ON queue_tokens (concert_id, last_polled_at, seq)
    WHERE status = 'WAITING';
