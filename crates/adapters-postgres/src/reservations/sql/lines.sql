-- The seats of reservations $1, in reservation and seat order.
SELECT rs.reservation_id, rs.seat_id, st.number, rs.price
FROM reservation_seats rs JOIN seats st ON st.id = rs.seat_id
WHERE rs.reservation_id = ANY($1) ORDER BY rs.reservation_id, rs.seat_id
