-- The reservation $1, locked, judged after its lock: whether it may be refunded
-- (refund_allowed) and whether its schedule is still before the cut-off of $2 hours
-- (refund_window_open reads the clock when it is called). Migration 2025-01-10-000000_refunds.
SELECT t.user_id, refund_allowed(t.status) AS confirmed,
    refund_window_open(t.starts_at, $2) AS window_open
FROM (SELECT r.id, r.user_id, r.status, s.starts_at
      FROM reservations r JOIN schedules s ON s.id = r.schedule_id
      WHERE r.id = $1 FOR NO KEY UPDATE OF r) t
