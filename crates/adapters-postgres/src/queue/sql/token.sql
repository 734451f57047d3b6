-- Tokens with their effective status only, for the queue gate (no place in line: two relations
-- to plan instead of five); {filter} says which tokens.
SELECT t.id, t.user_id, t.concert_id, t.seq, t.issued_at, t.active_until,
    {status} AS status,
    NULL::bigint AS position, 0::bigint AS admitted_last_minute,
    q.sale_opens_at
FROM queue_tokens t
JOIN concert_queues q ON q.concert_id = t.concert_id
WHERE {filter}
