-- A refund's records in one statement: the refund ($1 id, $2 reservation, $3 payment, $4 user,
-- $5 amount, $6 time) and its REFUND ledger entry ($7 id, $8 balance after). The foreign keys
-- (refunds_payment_fkey: exactly the payment of that reservation, its payer, its amount;
-- ledger_entries_refund_fkey: the entry's amount is the refund's) check at the end of the
-- statement; ledger_entries_seq numbers the entry under the wallet's row lock, which the credit
-- took.
WITH refund AS (
    INSERT INTO refunds (id, reservation_id, payment_id, user_id, amount, refunded_at)
    VALUES ($1, $2, $3, $4, $5, $6))
INSERT INTO ledger_entries (id, user_id, kind, amount, balance_after, reference, refund_id,
    created_at)
VALUES ($7, $4, 'REFUND', $5, $8, $1::text, $1, $6)
