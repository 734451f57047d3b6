-- The outcomes under their keys, in the calls' transaction: $1 users, $2 keys, $3
-- fingerprints, $4 outcomes, $5 rejections, $6 payments, $7 reservations, $8 amounts,
-- $9 balances, $10 times.
INSERT INTO idempotency_records (user_id, key, fingerprint, outcome, rejection,
    payment_id, reservation_id, amount, balance, occurred_at)
SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[],
    $6::uuid[], $7::uuid[], $8::bigint[], $9::bigint[], $10::timestamptz[])
