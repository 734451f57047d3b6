-- Charges and payments as one call each: the same steps, guards and locks as the statement-by-
-- statement transactions they replace (crates/adapters-postgres/src/wallet.rs), in one round
-- trip. Profiling scripts/bench showed a payment's 17 round trips costing more CPU, in the
-- service and in PostgreSQL, than the work they carried.
--
-- Money stays guarded in SQL: conditional UPDATEs whose affected-row count decides, never a
-- balance read into the application; the CHECKs and triggers of the schema stay the backstop.
-- The time is the database's now() (the transaction's start), as before.

-- What a call did: CLAIMED... never leaves the function; IN_USE / REUSED / NOT_FOUND /
-- TOKEN_NOT_ACTIVE, or DONE with the key's record (the new one, or the replayed one).
CREATE TYPE money_call_result AS (
    status         text,
    fingerprint    text,
    outcome        text,
    rejection      text,
    transaction_id uuid,
    payment_id     uuid,
    reservation_id uuid,
    amount         bigint,
    balance        bigint,
    occurred_at    timestamptz
);

-- Takes the (user, key) advisory lock for the transaction, waiting at most p_wait_ms for a
-- request running under the same key, and says what the key already holds:
-- FRESH, IN_USE, REUSED, or DONE with the stored record.
CREATE FUNCTION claim_idempotency_key(p_user bigint, p_key text, p_fingerprint text,
                                      p_wait_ms integer)
RETURNS money_call_result LANGUAGE plpgsql AS $$
DECLARE
    v_old_timeout text := current_setting('lock_timeout');
    v money_call_result;
BEGIN
    PERFORM set_config('lock_timeout', p_wait_ms::text, true);
    BEGIN
        PERFORM pg_advisory_xact_lock(2, hashtext(p_user::text || ':' || p_key));
    EXCEPTION WHEN lock_not_available THEN
        PERFORM set_config('lock_timeout', v_old_timeout, true);
        v.status := 'IN_USE';
        RETURN v;
    END;
    PERFORM set_config('lock_timeout', v_old_timeout, true);
    SELECT 'DONE', r.fingerprint, r.outcome, r.rejection, r.transaction_id, r.payment_id,
           r.reservation_id, r.amount, r.balance, r.occurred_at
      INTO v
      FROM idempotency_records r WHERE r.user_id = p_user AND r.key = p_key;
    IF NOT FOUND THEN
        v.status := 'FRESH';
    ELSIF v.fingerprint <> p_fingerprint THEN
        v := ROW('REUSED', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
    END IF;
    RETURN v;
END $$;

-- A payment. Guards (all true in service; a test's negative control switches one off):
-- p_payable (only a HELD, unexpired reservation), p_token (the payer's ACTIVE token for the
-- concert), p_balance (only a wallet that covers the price).
CREATE FUNCTION pay_once(p_user bigint, p_key text, p_fingerprint text,
                         p_reservation uuid, p_token uuid, p_payment uuid, p_transaction uuid,
                         p_payable boolean, p_token_active boolean, p_balance boolean,
                         p_wait_ms integer)
RETURNS money_call_result LANGUAGE plpgsql AS $$
DECLARE
    v money_call_result;
    t record;
    v_balance bigint;
    v_at timestamptz;
    v_rejection text;
BEGIN
    v := claim_idempotency_key(p_user, p_key, p_fingerprint, p_wait_ms);
    IF v.status <> 'FRESH' THEN
        RETURN v;
    END IF;
    SELECT r.user_id, r.total_price, r.status, r.held_until, s.concert_id INTO t
      FROM reservations r JOIN schedules s ON s.id = r.schedule_id
     WHERE r.id = p_reservation FOR NO KEY UPDATE OF r;
    IF NOT FOUND OR t.user_id <> p_user THEN
        v.status := 'NOT_FOUND';
        RETURN v;
    END IF;
    IF p_token_active THEN
        PERFORM 1 FROM queue_tokens
         WHERE id = p_token AND user_id = p_user AND concert_id = t.concert_id
           AND status = 'ACTIVE' AND active_until > now()
           FOR NO KEY UPDATE;
        IF NOT FOUND THEN
            v.status := 'TOKEN_NOT_ACTIVE';
            RETURN v;
        END IF;
    END IF;
    IF p_payable AND NOT (t.status = 'HELD' AND t.held_until > now()) THEN
        v_rejection := 'NOT_PAYABLE';
    ELSIF p_balance THEN
        UPDATE wallets SET balance = balance - t.total_price, updated_at = now()
         WHERE user_id = p_user AND balance >= t.total_price
        RETURNING balance, now() INTO v_balance, v_at;
        IF NOT FOUND THEN
            v_rejection := 'INSUFFICIENT_BALANCE';
        END IF;
    ELSE
        INSERT INTO wallets (user_id) VALUES (p_user) ON CONFLICT DO NOTHING;
        UPDATE wallets SET balance = balance - t.total_price, updated_at = now()
         WHERE user_id = p_user
        RETURNING balance, now() INTO v_balance, v_at;
    END IF;
    IF v_rejection IS NULL THEN
        UPDATE reservations SET status = 'CONFIRMED'
         WHERE id = p_reservation AND user_id = p_user
           AND (NOT p_payable OR (status = 'HELD' AND held_until > now()));
        IF NOT FOUND THEN
            -- Checked above under the row lock: unreachable.
            RAISE EXCEPTION 'reservation % changed under its lock', p_reservation;
        END IF;
        INSERT INTO payments (id, reservation_id, user_id, amount)
        VALUES (p_payment, p_reservation, p_user, t.total_price);
        INSERT INTO ledger_entries (id, user_id, kind, amount, balance_after, reference, payment_id)
        VALUES (p_transaction, p_user, 'PAYMENT', -t.total_price, v_balance, p_payment::text,
                p_payment);
        -- Paying uses up the active slot.
        UPDATE queue_tokens SET status = 'EXPIRED' WHERE id = p_token AND status = 'ACTIVE';
        v := ROW('DONE', p_fingerprint, 'PAID', NULL, NULL, p_payment, p_reservation,
                 t.total_price, greatest(v_balance, 0), v_at);
    ELSE
        v := ROW('DONE', p_fingerprint, 'PAYMENT_REJECTED', v_rejection, NULL, NULL, NULL, NULL,
                 NULL, NULL);
    END IF;
    INSERT INTO idempotency_records (user_id, key, fingerprint, outcome, rejection,
                                     transaction_id, payment_id, reservation_id, amount, balance,
                                     occurred_at)
    VALUES (p_user, p_key, p_fingerprint, v.outcome, v.rejection, v.transaction_id,
            v.payment_id, v.reservation_id, v.amount, v.balance, v.occurred_at);
    RETURN v;
END $$;

-- A charge: adds p_amount unless the balance would pass p_balance_max.
CREATE FUNCTION charge_once(p_user bigint, p_key text, p_fingerprint text,
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
