-- a payment-like transaction: key lock, key lookup, row lock, 3 updates, 3 inserts
\set u random(1, 100000)
BEGIN;
SELECT pg_advisory_xact_lock(3, :u);
SELECT outcome FROM c_idem WHERE user_id = :u AND key = 'k' || :client_id || '-' || :scale;
SELECT user_id, total_price FROM c_reservations WHERE id = :u FOR NO KEY UPDATE;
UPDATE c_reservations SET status = 'CONFIRMED' WHERE id = :u;
UPDATE c_wallets SET balance = balance - 1 WHERE user_id = :u AND balance >= 1 RETURNING balance;
INSERT INTO c_payments (id, reservation_id, user_id, amount) VALUES (gen_random_uuid(), :u, :u, 1);
INSERT INTO c_ledger (id, user_id, amount, balance_after) VALUES (gen_random_uuid(), :u, -1, 0);
UPDATE c_tokens SET status = 'EXPIRED' WHERE id = :u;
INSERT INTO c_idem (user_id, key, outcome) VALUES (:u, gen_random_uuid()::text, 'PAID');
COMMIT;
