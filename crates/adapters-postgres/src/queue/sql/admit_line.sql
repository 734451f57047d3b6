-- Admission, step 3: the line's counters and settings, its slot record, the unexpired ACTIVE
-- count and the transaction's clock; $1 concert id.
SELECT q.admitted_through, q.admit_batch, q.max_active, q.paused,
    q.admission_slot, q.admitted_in_slot, now() AS now,
    (SELECT count(*) FROM queue_tokens a WHERE a.concert_id = q.concert_id
       AND a.status = 'ACTIVE' AND a.active_until > now()) AS active
FROM concert_queues q WHERE q.concert_id = $1
