-- Reservation headers with their effective status (a HELD reservation past held_until is
-- EXPIRED for every purpose, whether or not a sweep ran). The caller appends a WHERE on r.
SELECT r.id, r.user_id, r.schedule_id, s.concert_id,
    CASE WHEN r.status = 'HELD' AND r.held_until <= now() THEN 'EXPIRED' ELSE r.status END
        AS status,
    r.total_price, r.held_until, r.created_at
FROM reservations r JOIN schedules s ON s.id = r.schedule_id
