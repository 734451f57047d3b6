-- Why this migration exists: 2025-01-03-000000_money_functions was edited twice after it had
-- landed (843f339 added the schedule trigger, 771dc67 added record_idempotent_outcome), and a
-- database that had applied its first version never got those edits: diesel runs a migration
-- once, by version, whatever its text says later. That migration is back to its first version
-- (33a427b) and its later edits are here, written so that both kinds of database end at the same
-- schema:
--   * a fresh database, or one that applied the first 2025-01-03 (then 2025-01-04 .. 2025-01-07):
--     gets the function, the new charge_once body and the trigger now;
--   * a database that applied the edited 2025-01-03 (then 2025-01-04 .. 2025-01-07): already has
--     them; every statement below replaces an object with the same definition.
-- Nothing that a later migration defines is touched: pay_once is 2025-01-04-000000_sold_once's
-- (which already calls record_idempotent_outcome). The bodies are byte-for-byte those of the
-- edited 2025-01-03, so pg_dump shows the same schema on every path
-- (crates/adapters-postgres/tests/migration_paths.rs). A migration that has landed never changes
-- (crates/adapters-postgres/tests/migrations_immutable.rs).

-- Stores a call's outcome under its key, in the call's transaction.
CREATE OR REPLACE FUNCTION record_idempotent_outcome(p_user bigint, p_key text, v money_call_result)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO idempotency_records (user_id, key, fingerprint, outcome, rejection,
                                     transaction_id, payment_id, reservation_id, amount, balance,
                                     occurred_at)
    VALUES (p_user, p_key, v.fingerprint, v.outcome, v.rejection, v.transaction_id,
            v.payment_id, v.reservation_id, v.amount, v.balance, v.occurred_at);
$$;

-- A charge: adds p_amount unless the balance would pass p_balance_max.
-- (2025-01-03 stored the outcome with an inline INSERT; now through record_idempotent_outcome.)
CREATE OR REPLACE FUNCTION charge_once(p_user bigint, p_key text, p_fingerprint text,
                            p_transaction uuid, p_amount bigint, p_balance_max bigint,
                            p_wait_ms integer)
RETURNS money_call_result LANGUAGE plpgsql AS $$
DECLARE
    v money_call_result;
    v_balance bigint;
    v_at timestamptz;
BEGIN
    v := claim_idempotency_key(p_user, p_key, p_fingerprint, p_wait_ms);
    IF v.status <> 'FRESH' THEN
        RETURN v;
    END IF;
    IF p_amount <= p_balance_max THEN
        INSERT INTO wallets (user_id) VALUES (p_user) ON CONFLICT DO NOTHING;
        UPDATE wallets SET balance = balance + p_amount, updated_at = now()
         WHERE user_id = p_user AND balance <= p_balance_max - p_amount
        RETURNING balance, now() INTO v_balance, v_at;
    END IF;
    IF v_balance IS NOT NULL THEN
        INSERT INTO ledger_entries (id, user_id, kind, amount, balance_after, reference)
        VALUES (p_transaction, p_user, 'CHARGE', p_amount, v_balance, p_key);
        v := ROW('DONE', p_fingerprint, 'CHARGED', NULL, p_transaction, NULL, NULL, p_amount,
                 v_balance, v_at);
    ELSE
        v := ROW('DONE', p_fingerprint, 'CHARGE_REJECTED', 'BALANCE_LIMIT_EXCEEDED', NULL, NULL,
                 NULL, NULL, NULL, NULL);
    END IF;
    PERFORM record_idempotent_outcome(p_user, p_key, v);
    RETURN v;
END $$;

-- A schedule never moves to another concert: the service caches which concert a schedule
-- belongs to (crates/adapters-postgres/src/pool.rs, KnownConcerts).
CREATE OR REPLACE FUNCTION schedule_concert_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a schedule''s concert never changes (schedule %)', OLD.id
        USING ERRCODE = 'check_violation';
END $$;
DROP TRIGGER IF EXISTS schedules_concert_fixed ON schedules;
CREATE TRIGGER schedules_concert_fixed BEFORE UPDATE OF concert_id ON schedules
    FOR EACH ROW WHEN (OLD.concert_id IS DISTINCT FROM NEW.concert_id)
    EXECUTE FUNCTION schedule_concert_fixed();
