-- Expiry-sweep fixture, loaded into a freshly migrated database: a table of :size rows that are not due, plus :expired rows that are.
--   reservations: :size HELD holds still running, :expired HELD holds past held_until (one seat
--                 line each, so the release trigger has work)
--   queue_tokens: :size/2 ACTIVE tokens inside their window, :size/2 WAITING tokens polled now,
--                 :expired ACTIVE tokens past active_until, :expired WAITING tokens idle 1 hour
\set ON_ERROR_STOP on
INSERT INTO concerts (id, title, venue) OVERRIDING SYSTEM VALUE VALUES (1, 'Sweep', 'Hall');
INSERT INTO concert_queues (concert_id, next_seq, admitted_through, paused)
VALUES (1, :size + 2 * :expired, 0, true);
INSERT INTO schedules (id, concert_id, starts_at) OVERRIDING SYSTEM VALUE
VALUES (1, 1, now() + interval '30 days');
INSERT INTO seats (id, schedule_id, number, grade, price) OVERRIDING SYSTEM VALUE
SELECT n, 1, 'S' || n, 'R', 1000 FROM generate_series(1, :expired) n;
INSERT INTO reservations (id, user_id, schedule_id, status, total_price, held_until, created_at)
SELECT gen_random_uuid(), n, 1, 'HELD', 0, now() + interval '1 hour', now()
FROM generate_series(1, :size) n;
INSERT INTO reservations (id, user_id, schedule_id, status, total_price, held_until, created_at)
SELECT md5('x' || n)::uuid, n, 1, 'HELD', 1000, now() - interval '1 hour', now() - interval '2 hours'
FROM generate_series(1, :expired) n;
INSERT INTO reservation_seats (reservation_id, schedule_id, seat_id, price)
SELECT md5('x' || n)::uuid, 1, n, 1000 FROM generate_series(1, :expired) n;
INSERT INTO queue_tokens (id, user_id, concert_id, seq, status, admitted_at, active_until,
                          last_polled_at)
SELECT gen_random_uuid(), n, 1, n,
       CASE WHEN n % 2 = 0 THEN 'ACTIVE' ELSE 'WAITING' END,
       CASE WHEN n % 2 = 0 THEN now() END,
       CASE WHEN n % 2 = 0 THEN now() + interval '1 hour' END,
       now()
FROM generate_series(1, :size) n;
INSERT INTO queue_tokens (id, user_id, concert_id, seq, status, admitted_at, active_until,
                          last_polled_at)
SELECT gen_random_uuid(), :size + n, 1, :size + n, 'ACTIVE', now() - interval '2 hours',
       now() - interval '1 hour', now() - interval '2 hours'
FROM generate_series(1, :expired) n;
INSERT INTO queue_tokens (id, user_id, concert_id, seq, status, last_polled_at, issued_at)
SELECT gen_random_uuid(), :size + :expired + n, 1, :size + :expired + n, 'WAITING',
       now() - interval '1 hour', now() - interval '1 hour'
FROM generate_series(1, :expired) n;
VACUUM ANALYZE;
