-- Stores one outcome under its key, in the operation's transaction: $1 user, $2 key, then the
-- record's columns ($3 fingerprint .. $12 refund id) as rows::IdempotencyRow holds them.
INSERT INTO idempotency_records (user_id, key, fingerprint, outcome, rejection, transaction_id,
    payment_id, reservation_id, amount, balance, occurred_at, refund_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
