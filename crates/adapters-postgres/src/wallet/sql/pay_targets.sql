-- The reservations $1, locked in id order. Whether each is payable is judged by hold_payable
-- on the outer query, so the clock is read after the row's lock is held (the transaction began
-- earlier, and its now() may be before a deadline that has since passed). `offer`: the
-- reservation is the offer of an OFFERED waiting-list entry (paid without a queue token).
SELECT t.id, t.user_id, t.total_price, hold_payable(t.status, t.held_until) AS payable,
    t.concert_id,
    EXISTS (SELECT 1 FROM waitlist_entries w
             WHERE w.offer_reservation_id = t.id AND w.status = 'OFFERED') AS offer
FROM (SELECT r.id, r.user_id, r.total_price, r.status, r.held_until, s.concert_id
      FROM reservations r JOIN schedules s ON s.id = r.schedule_id
      WHERE r.id = ANY($1) ORDER BY r.id FOR NO KEY UPDATE OF r) t
