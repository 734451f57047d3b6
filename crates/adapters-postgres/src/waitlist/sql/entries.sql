-- Waiting-list entries as stored, with what their effective status needs (the offer
-- reservation's status and deadline, the database's now()) and the place among the date's
-- WAITING entries. The caller appends a WHERE on w.
SELECT w.id, w.user_id, w.schedule_id, w.status,
    CASE WHEN w.status = 'WAITING' THEN (
        SELECT count(*) FROM waitlist_entries o
         WHERE o.schedule_id = w.schedule_id AND o.status = 'WAITING' AND o.seq <= w.seq)
    END AS position,
    w.offer_reservation_id, w.offer_seat_id, r.status AS offer_status,
    r.held_until AS offer_held_until, w.created_at, now() AS now
FROM waitlist_entries w LEFT JOIN reservations r ON r.id = w.offer_reservation_id
