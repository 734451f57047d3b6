-- Persists user $1's OFFERED entries of date $2 whose offer is no longer a live hold (lapsed:
-- EXPIRED; cancelled: LEFT; paid: FULFILLED), so that a new entry does not meet the unique index
-- waitlist_entries_one_live. The reservation itself is left to the offer step.
UPDATE waitlist_entries w
   SET status = CASE WHEN r.status = 'CONFIRMED' THEN 'FULFILLED'
                     WHEN r.status = 'CANCELLED' THEN 'LEFT' ELSE 'EXPIRED' END
  FROM reservations r
 WHERE w.user_id = $1 AND w.schedule_id = $2 AND w.status = 'OFFERED'
   AND r.id = w.offer_reservation_id AND (r.status <> 'HELD' OR r.held_until <= now())
