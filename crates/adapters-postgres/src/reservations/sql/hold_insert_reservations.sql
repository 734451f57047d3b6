-- The granted holds: $1 ids, $2 users, $3 schedules, $4 TTLs (µs); $5/$6 every line's
-- reservation and seat (the price total comes from the seats). held_until is the database's
-- now() plus the TTL: one clock for every instance.
INSERT INTO reservations (id, user_id, schedule_id, status, total_price, held_until)
SELECT k.id, k.u, k.s, 'HELD', t.total, now() + k.ttl::float8 * interval '1 microsecond'
FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::bigint[]) AS k(id, u, s, ttl)
JOIN (SELECT l.r, sum(st.price) AS total
      FROM unnest($5::uuid[], $6::bigint[]) AS l(r, seat) JOIN seats st ON st.id = l.seat
      WHERE st.id = ANY($6) GROUP BY l.r) t ON t.r = k.id
