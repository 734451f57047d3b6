-- Tokens with their effective status, place in line and the concert's admission rate; {filter}
-- says which tokens. The place in line is (seq - admitted_through) minus the tokens ahead that
-- left while waiting and minus those idle past the timeout: two index-only counts (see
-- queue/mod.rs).
SELECT t.id, t.user_id, t.concert_id, t.seq, t.issued_at, t.active_until, e.status,
    CASE WHEN e.status = 'WAITING' THEN
        (t.seq - q.admitted_through)
        - (SELECT count(*) FROM queue_tokens d
            WHERE d.concert_id = t.concert_id AND d.departed_waiting
              AND d.seq > q.admitted_through AND d.seq < t.seq)
        - (SELECT count(*) FROM queue_tokens i
            WHERE i.concert_id = t.concert_id AND i.status = 'WAITING'
              AND i.last_polled_at <= {idle}
              AND i.seq > q.admitted_through AND i.seq < t.seq)
    END AS position,
    (SELECT coalesce(sum(a.admitted), 0)::bigint FROM queue_admissions a
      WHERE a.concert_id = t.concert_id AND a.admitted_at > now() - interval '60 seconds')
        AS admitted_last_minute,
    q.sale_opens_at
FROM queue_tokens t
JOIN concert_queues q ON q.concert_id = t.concert_id
CROSS JOIN LATERAL (SELECT {status} AS status) e
WHERE {filter}
