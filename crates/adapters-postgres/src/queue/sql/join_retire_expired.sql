-- Join, step 2: $1 users, $2 concerts. Their tokens that are live in storage but expired by
-- the database's clock are retired; departed_waiting records that a token left the line while
-- waiting or in the pre-queue (positions and counts behind it count that).
UPDATE queue_tokens t SET status = 'EXPIRED',
    departed_waiting = (t.status IN ('WAITING', 'PRE_QUEUE'))
FROM unnest($1::bigint[], $2::bigint[]) AS k(u, c), concert_queues q
WHERE t.user_id = k.u AND t.concert_id = k.c AND q.concert_id = t.concert_id
  AND t.user_id = ANY($1)
  AND t.status IN ('PRE_QUEUE', 'WAITING', 'ACTIVE') AND ({status}) = 'EXPIRED'
