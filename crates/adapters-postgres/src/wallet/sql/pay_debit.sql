-- The debit, guarded: $1 users, $2 prices. Only a wallet that covers its price is debited
-- (wallet_covers, migration 2025-01-09-000000_guards_without_switches); a wallet it does not
-- touch cannot pay. The balance is never read into the service and written back.
UPDATE wallets w SET balance = w.balance - d.price, updated_at = now()
FROM unnest($1::bigint[], $2::bigint[]) AS d(u, price)
WHERE w.user_id = d.u AND w.user_id = ANY($1) AND wallet_covers(w.balance, d.price)
RETURNING w.user_id, w.balance, now() AS at
