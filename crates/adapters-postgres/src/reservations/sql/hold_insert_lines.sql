-- The granted holds' lines: $1 reservations, $2 seats. The partial unique index
-- reservation_seats_one_live backs "one live line per seat" whatever the code above did.
INSERT INTO reservation_seats (reservation_id, schedule_id, seat_id, price)
SELECT l.r, st.schedule_id, st.id, st.price
FROM unnest($1::uuid[], $2::bigint[]) AS l(r, seat) JOIN seats st ON st.id = l.seat
WHERE st.id = ANY($2) ORDER BY st.id
