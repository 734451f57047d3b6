-- Back to the schema a fresh database had before this migration: no schedule trigger, charge_once
-- as the first 2025-01-03-000000_money_functions wrote it, no record_idempotent_outcome (which
-- must go before that migration's down.sql drops its argument type money_call_result).
-- pay_once (2025-01-04-000000_sold_once's) calls record_idempotent_outcome, so at this state, as
-- on any fresh database between 2025-01-04 and this migration, pay_once fails until this
-- migration is applied again (or 2025-01-03's down.sql drops it).

DROP TRIGGER schedules_concert_fixed ON schedules;
DROP FUNCTION schedule_concert_fixed();

-- A charge: adds p_amount unless the balance would pass p_balance_max.
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
    INSERT INTO idempotency_records (user_id, key, fingerprint, outcome, rejection,
                                     transaction_id, payment_id, reservation_id, amount, balance,
                                     occurred_at)
    VALUES (p_user, p_key, p_fingerprint, v.outcome, v.rejection, v.transaction_id,
            v.payment_id, v.reservation_id, v.amount, v.balance, v.occurred_at);
    RETURN v;
END $$;

DROP FUNCTION record_idempotent_outcome(bigint, text, money_call_result);
