-- Admission, step 4: activate the oldest live WAITING tokens; $1 concert id, $2
-- admitted_through, $3 quota, $4 active TTL (µs). Plain FOR UPDATE, no SKIP LOCKED, which could
-- skip an older token and break FIFO.
WITH picked AS (
    SELECT id FROM queue_tokens
    WHERE concert_id = $1 AND status = 'WAITING' AND seq > $2
      AND last_polled_at > {idle}
    ORDER BY seq LIMIT $3 FOR UPDATE)
UPDATE queue_tokens t SET status = 'ACTIVE', admitted_at = now(),
    active_until = now() + $4::float8 * interval '1 microsecond'
FROM picked WHERE t.id = picked.id
RETURNING t.seq AS value
