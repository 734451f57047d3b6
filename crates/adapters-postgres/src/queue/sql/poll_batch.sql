-- A batch of polls in one statement: keeps the WAITING and PRE_QUEUE places of the callers' own tokens alive
-- (never reviving one that already timed out; only when not refreshed within the touch cutoff),
-- and reads every token's standing. $1 token ids, $2 the callers' user ids. The select reads
-- the statement's snapshot, from before the touch: the touch cannot change an answer (the token
-- was not idle, or it is not touched).
WITH keys AS (SELECT * FROM unnest($1::uuid[], $2::bigint[]) AS k(id, user_id)),
touched AS (
    UPDATE queue_tokens u SET last_polled_at = now() FROM keys
    WHERE u.id = keys.id AND u.user_id = keys.user_id AND u.id = ANY($1)
      AND u.status IN ('WAITING', 'PRE_QUEUE')
      AND u.last_polled_at > {idle} AND u.last_polled_at <= {touch}
    RETURNING u.id)
{standing}
