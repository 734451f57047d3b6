-- Seats each of the users $1 holds under unexpired holds.
SELECT r.user_id AS key, count(*) AS value FROM reservation_seats rs
JOIN reservations r ON r.id = rs.reservation_id
WHERE r.user_id = ANY($1) AND r.status = 'HELD' AND r.held_until > now()
GROUP BY r.user_id
