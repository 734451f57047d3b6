-- The stored records of several (user, key) pairs: $1 users, $2 keys. Both = ANY on the
-- primary key (an index probe per pair whatever the table's statistics say); it may also
-- return one pair's key under another pair's user, which a lookup by (user, key) ignores.
SELECT r.user_id, r.key, r.fingerprint, r.outcome, r.rejection, r.transaction_id,
    r.payment_id, r.reservation_id, r.amount, r.balance, r.occurred_at, r.refund_id
FROM idempotency_records r WHERE r.user_id = ANY($1) AND r.key = ANY($2)
