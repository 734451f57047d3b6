-- Counts and settings per concert; {filter} says which concerts (and in what order). A
-- pre-queue place is not waiting (it has no place in line before the draw); live pre-queue
-- places are counted apart, like waiting ones (an idle one is not).
SELECT q.concert_id, q.admit_batch, q.max_active, q.paused,
    greatest(0, (q.next_seq - q.admitted_through)
        - (SELECT count(*) FROM queue_tokens d
            WHERE d.concert_id = q.concert_id AND d.departed_waiting
              AND d.seq > q.admitted_through)
        - (SELECT count(*) FROM queue_tokens i
            WHERE i.concert_id = q.concert_id AND i.status = 'WAITING'
              AND i.last_polled_at <= {idle}
              AND i.seq > q.admitted_through)
        - (SELECT count(*) FROM queue_tokens p
            WHERE p.concert_id = q.concert_id AND p.status = 'PRE_QUEUE'
              AND p.seq > q.admitted_through))::bigint AS waiting,
    (SELECT count(*) FROM queue_tokens a
      WHERE a.concert_id = q.concert_id AND a.status = 'ACTIVE'
        AND a.active_until > now()) AS active,
    (SELECT coalesce(sum(x.admitted), 0)::bigint FROM queue_admissions x
      WHERE x.concert_id = q.concert_id AND x.admitted_at > now() - interval '60 seconds')
        AS admitted_last_minute,
    (SELECT count(*) FROM queue_tokens p
      WHERE p.concert_id = q.concert_id AND p.status = 'PRE_QUEUE'
        AND p.last_polled_at > {idle}) AS pre_queue,
    q.drawn_at, q.sale_opens_at, q.sale_closes_at
FROM concert_queues q {filter}
