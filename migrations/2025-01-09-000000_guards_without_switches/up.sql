-- No test switch in the production schema. pay_once took three guard parameters (p_payable,
-- p_token_active, p_balance) that only tests' negative controls ever set to false. Every payment
-- now runs through the service's one payment transaction (a lone payment is a batch of one:
-- crates/adapters-postgres/src/wallet/pay.rs), so pay_once goes, switches and all.
--
-- The two guards that were still written inline in the service's statements become functions of
-- their own, like hold_payable (2025-01-04-000000_sold_once) and token_active
-- (2025-01-08-000001_sold_once_edits). A negative control replaces a guard function in its own
-- test database (crates/adapters-postgres/tests/common/controls.rs) and runs exactly the
-- statements the service runs.
--
-- Deploying: instances of older versions call pay_once. Stop them before this migration runs
-- (docs/operations.md, "Upgrading").

DROP FUNCTION pay_once(bigint, text, text, uuid, uuid, uuid, uuid, boolean, boolean, boolean,
                       integer);

-- The seats among p_seats that are taken right now: a live line whose reservation is CONFIRMED,
-- or HELD and unexpired. A hold calls it with the seats locked, after release_lapsed_holds.
CREATE FUNCTION taken_seats(p_seats bigint[]) RETURNS SETOF bigint
LANGUAGE sql STABLE AS $$
    SELECT rs.seat_id FROM reservation_seats rs
    JOIN reservations r ON r.id = rs.reservation_id
    WHERE rs.seat_id = ANY(p_seats) AND rs.live
      AND (r.status = 'CONFIRMED' OR (r.status = 'HELD' AND r.held_until > now()))
$$;

-- Whether a wallet's balance covers a price: the condition of a payment's debit
-- (UPDATE wallets ... WHERE wallet_covers(balance, price)); a balance is never read into the
-- service and written back.
CREATE FUNCTION wallet_covers(p_balance bigint, p_price bigint) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT p_balance >= p_price
$$;
