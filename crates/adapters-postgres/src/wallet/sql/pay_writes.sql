-- Every write of a payment run in one statement (one round trip): the confirmations, the
-- payments, their ledger entries, the spent tokens, and every outcome under its key. The
-- statement returns how many reservations it confirmed.
--   paid:    $1 reservations, $2 payment ids, $3 users, $4 amounts, $5 ledger entry ids,
--            $6 balances after, $7 queue tokens (NULL: an offer paid without one);
--   records: $8 users, $9 keys, $10 fingerprints, $11 outcomes, $12 rejections, $13 payment
--            ids, $14 reservations, $15 amounts, $16 balances, $17 times.
-- Each row is written once (one payment per user and per reservation in a run); the foreign
-- keys and the triggers (ledger_entries_seq numbers an entry under the wallet's row lock, which
-- the debit took) check at the end of the statement, as for separate statements.
WITH confirmed AS (
    UPDATE reservations SET status = 'CONFIRMED' WHERE id = ANY($1) RETURNING id),
paid AS (
    INSERT INTO payments (id, reservation_id, user_id, amount)
    SELECT * FROM unnest($2::uuid[], $1::uuid[], $3::bigint[], $4::bigint[])),
entries AS (
    INSERT INTO ledger_entries (id, user_id, kind, amount, balance_after, reference, payment_id)
    SELECT e.id, e.u, 'PAYMENT', -e.amount, e.after, e.p::text, e.p
    FROM unnest($5::uuid[], $3::bigint[], $4::bigint[], $6::bigint[], $2::uuid[])
        AS e(id, u, amount, after, p)),
spent AS (
    UPDATE queue_tokens SET status = 'EXPIRED' WHERE id = ANY($7) AND status = 'ACTIVE'),
fulfilled AS (
    -- a paid waiting-list offer fulfils its entry
    UPDATE waitlist_entries SET status = 'FULFILLED'
    WHERE offer_reservation_id = ANY($1) AND status = 'OFFERED'),
recorded AS (
    INSERT INTO idempotency_records (user_id, key, fingerprint, outcome, rejection,
        payment_id, reservation_id, amount, balance, occurred_at)
    SELECT * FROM unnest($8::bigint[], $9::text[], $10::text[], $11::text[], $12::text[],
        $13::uuid[], $14::uuid[], $15::bigint[], $16::bigint[], $17::timestamptz[]))
SELECT count(*) AS value FROM confirmed
