-- A join's facts for user $1 and date $2, after the join's lock: whether the date is open, the
-- user's live entry (if any, by the effective status), the date's seats that are neither held
-- nor sold, and its WAITING entries.
SELECT EXISTS (SELECT 1 FROM schedules WHERE id = $2 AND starts_at > now()) AS open,
    (SELECT w.id FROM waitlist_entries w
       LEFT JOIN reservations r ON r.id = w.offer_reservation_id
      WHERE w.user_id = $1 AND w.schedule_id = $2
        AND (w.status = 'WAITING'
             OR (w.status = 'OFFERED' AND r.status = 'HELD' AND r.held_until > now()))
      LIMIT 1) AS live,
    (SELECT count(*) FROM seats st
      WHERE st.schedule_id = $2
        AND st.id NOT IN (SELECT held_or_sold_seats(ARRAY(
                SELECT id FROM seats WHERE schedule_id = $2)))) AS free_seats,
    (SELECT count(*) FROM waitlist_entries
      WHERE schedule_id = $2 AND status = 'WAITING') AS waiting
