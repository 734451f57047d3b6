-- Bench data, loaded straight into the service's schema (after `concert-reservation migrate`).
-- psql variables: n_poll (waiting line of concert 2), n_seats (users browsing concert 3),
-- n_hold (users and seats of the spread holds, concert 4), n_cont (users of the contended holds,
-- concert 5), n_pay (users with a held reservation and money, concert 6).
--
--   concert 1  queue join storm (queue paused: nobody is admitted while it runs)
--   concert 2  :n_poll tokens WAITING (paused)
--   concert 3  schedule 301 with 50 seats (10 of them held), :n_seats users ACTIVE
--   concert 4  :n_hold seats (ids 1000001..) in schedules of 1000, :n_hold users ACTIVE
--   concert 5  schedule 501 with 50 seats (ids 101..150), :n_cont users ACTIVE
--   concert 6  :n_pay users ACTIVE, each with a HELD reservation of its own seat (ids 3000001..)
--              and 1,000,000 won in the wallet (with the CHARGE ledger entry)
--   concert 7  the journey: 20 schedules x 500 seats (ids 5000001..), queue not paused
\set ON_ERROR_STOP on
BEGIN;
INSERT INTO concerts (id, title, venue) OVERRIDING SYSTEM VALUE
SELECT c, 'Bench concert ' || c, 'Bench hall' FROM generate_series(1, 7) c;
SELECT setval(pg_get_serial_sequence('concerts', 'id'), 7);
INSERT INTO concert_queues (concert_id, paused) SELECT c, c <> 7 FROM generate_series(1, 7) c;

-- schedules
INSERT INTO schedules (id, concert_id, starts_at) OVERRIDING SYSTEM VALUE VALUES
    (301, 3, now() + interval '30 days'), (501, 5, now() + interval '30 days');
INSERT INTO schedules (id, concert_id, starts_at) OVERRIDING SYSTEM VALUE
SELECT 4000 + s, 4, now() + interval '30 days' + s * interval '1 hour'
FROM generate_series(1, (:n_hold + 999) / 1000) s;
INSERT INTO schedules (id, concert_id, starts_at) OVERRIDING SYSTEM VALUE
SELECT 6000 + s, 6, now() + interval '30 days' + s * interval '1 hour'
FROM generate_series(1, (:n_pay + 999) / 1000) s;
INSERT INTO schedules (id, concert_id, starts_at) OVERRIDING SYSTEM VALUE
SELECT 7000 + s, 7, now() + interval '30 days' + s * interval '1 hour'
FROM generate_series(1, 20) s;
SELECT setval(pg_get_serial_sequence('schedules', 'id'), 100000);

-- seats
INSERT INTO seats (id, schedule_id, number, grade, price) OVERRIDING SYSTEM VALUE
SELECT n, 301, 'A' || n, CASE WHEN n <= 10 THEN 'VIP' ELSE 'R' END, 50000 + 1000 * (n % 5)
FROM generate_series(1, 50) n;
INSERT INTO seats (id, schedule_id, number, grade, price) OVERRIDING SYSTEM VALUE
SELECT 100 + n, 501, 'A' || n, 'R', 50000 FROM generate_series(1, 50) n;
INSERT INTO seats (id, schedule_id, number, grade, price) OVERRIDING SYSTEM VALUE
SELECT 1000000 + u, 4001 + (u - 1) / 1000, 'S' || u, 'R', 50000 FROM generate_series(1, :n_hold) u;
INSERT INTO seats (id, schedule_id, number, grade, price) OVERRIDING SYSTEM VALUE
SELECT 3000000 + u, 6001 + (u - 1) / 1000, 'S' || u, 'R', 50000 FROM generate_series(1, :n_pay) u;
INSERT INTO seats (id, schedule_id, number, grade, price) OVERRIDING SYSTEM VALUE
SELECT 5000000 + k, 7001 + (k - 1) / 500, 'S' || k, 'R', 30000 FROM generate_series(1, 10000) k;
SELECT setval(pg_get_serial_sequence('seats', 'id'), 10000000);

-- 10 of the 50 listed seats are held by someone else
INSERT INTO reservations (id, user_id, schedule_id, status, total_price, held_until)
VALUES ('00000000-0000-4000-8000-000000000301', 999999999, 301, 'HELD', 0, now() + interval '1 day');
INSERT INTO reservation_seats (reservation_id, schedule_id, seat_id, price)
SELECT '00000000-0000-4000-8000-000000000301', 301, n, 50000 FROM generate_series(1, 50, 5) n;

-- queue tokens
INSERT INTO queue_tokens (id, user_id, concert_id, seq, status)
SELECT gen_random_uuid(), u, 2, u, 'WAITING' FROM generate_series(1, :n_poll) u;
UPDATE concert_queues SET next_seq = :n_poll WHERE concert_id = 2;
INSERT INTO queue_tokens (id, user_id, concert_id, seq, status, admitted_at, active_until)
SELECT gen_random_uuid(), u, c.c, u, 'ACTIVE', now(), now() + interval '2 hours'
FROM (VALUES (3, :n_seats), (4, :n_hold), (5, :n_cont), (6, :n_pay)) c (c, n),
     generate_series(1, c.n) u;
UPDATE concert_queues q SET next_seq = c.n, admitted_through = c.n
FROM (VALUES (3, :n_seats), (4, :n_hold), (5, :n_cont), (6, :n_pay)) c (c, n)
WHERE q.concert_id = c.c;

-- payers: a held reservation each, and the money to pay it
INSERT INTO reservations (id, user_id, schedule_id, status, total_price, held_until)
SELECT md5('pay-' || u)::uuid, u, 6001 + (u - 1) / 1000, 'HELD', 50000, now() + interval '2 hours'
FROM generate_series(1, :n_pay) u;
INSERT INTO reservation_seats (reservation_id, schedule_id, seat_id, price)
SELECT md5('pay-' || u)::uuid, 6001 + (u - 1) / 1000, 3000000 + u, 50000
FROM generate_series(1, :n_pay) u;
INSERT INTO wallets (user_id, balance) SELECT u, 1000000 FROM generate_series(1, :n_pay) u;
INSERT INTO ledger_entries (id, user_id, kind, amount, balance_after, reference)
SELECT gen_random_uuid(), u, 'CHARGE', 1000000, 1000000, 'bench-seed'
FROM generate_series(1, :n_pay) u;
COMMIT;
-- Statistics for the tables filled above only. Not for the empty ones (payments,
-- idempotency_records, queue_admissions): statistics saying "empty" make every connection plan
-- the foreign-key checks into them (a ledger entry's payment, say) as sequential scans and keep
-- those plans until the next ANALYZE, so each check then scans the table as it grows (161 µs a
-- check after 10k payments, a third of the payment run's database time; found with
-- pg_stat_statements). A never-analysed table is planned as non-empty, so a fresh deployment
-- does not meet this; docs/operations.md says what to do after an ANALYZE of empty tables.
VACUUM ANALYZE concerts, concert_queues, schedules, seats, reservations, reservation_seats,
    queue_tokens, wallets, ledger_entries;
