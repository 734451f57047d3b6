-- Tables of the pgbench ceilings, in their own database on the bench's PostgreSQL server.
\set ON_ERROR_STOP on
CREATE TABLE c_insert (
    id        UUID PRIMARY KEY,
    user_id   BIGINT NOT NULL,
    concert_id BIGINT NOT NULL,
    seq       BIGINT NOT NULL,
    status    TEXT NOT NULL,
    issued_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE c_kv (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, status TEXT NOT NULL,
                   active_until TIMESTAMPTZ NOT NULL);
INSERT INTO c_kv SELECT i, i, 'ACTIVE', now() + interval '1 hour' FROM generate_series(1, 100000) i;
-- a payment's tables, reduced to what its statements touch
CREATE TABLE c_reservations (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, status TEXT NOT NULL,
                             total_price BIGINT NOT NULL);
CREATE TABLE c_wallets (user_id BIGINT PRIMARY KEY, balance BIGINT NOT NULL CHECK (balance >= 0));
CREATE TABLE c_tokens (id BIGINT PRIMARY KEY, status TEXT NOT NULL);
CREATE TABLE c_payments (id UUID PRIMARY KEY, reservation_id BIGINT NOT NULL, user_id BIGINT NOT NULL,
                         amount BIGINT NOT NULL, paid_at TIMESTAMPTZ NOT NULL DEFAULT now());
CREATE TABLE c_ledger (id UUID PRIMARY KEY, user_id BIGINT NOT NULL, amount BIGINT NOT NULL,
                       balance_after BIGINT NOT NULL, created_at TIMESTAMPTZ NOT NULL DEFAULT now());
CREATE INDEX ON c_ledger (user_id, created_at);
CREATE TABLE c_idem (user_id BIGINT NOT NULL, key TEXT NOT NULL, outcome TEXT NOT NULL,
                     PRIMARY KEY (user_id, key));
INSERT INTO c_reservations SELECT i, i, 'HELD', 50000 FROM generate_series(1, 100000) i;
INSERT INTO c_wallets SELECT i, 1000000000 FROM generate_series(1, 100000) i;
INSERT INTO c_tokens SELECT i, 'ACTIVE' FROM generate_series(1, 100000) i;
VACUUM ANALYZE;
