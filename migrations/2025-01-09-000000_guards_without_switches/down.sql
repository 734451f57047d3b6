-- Back to 2025-01-08-000001_sold_once_edits: the two guard functions go, and pay_once (as that
-- migration defined it) returns.
DROP FUNCTION wallet_covers(bigint, bigint);
DROP FUNCTION taken_seats(bigint[]);

CREATE FUNCTION pay_once(p_user bigint, p_key text, p_fingerprint text,
                                    p_reservation uuid, p_token uuid, p_payment uuid,
                                    p_transaction uuid, p_payable boolean,
                                    p_token_active boolean, p_balance boolean, p_wait_ms integer)
RETURNS money_call_result LANGUAGE plpgsql AS $$
DECLARE
    v money_call_result;
    t record;
    k record;
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
        SELECT q.status, q.active_until INTO k FROM queue_tokens q
         WHERE q.id = p_token AND q.user_id = p_user AND q.concert_id = t.concert_id
           FOR NO KEY UPDATE;
        IF NOT FOUND OR NOT token_active(k.status, k.active_until) THEN
            v.status := 'TOKEN_NOT_ACTIVE';
            RETURN v;
        END IF;
    END IF;
    IF p_payable AND NOT hold_payable(t.status, t.held_until) THEN
        v_rejection := 'NOT_PAYABLE';
    ELSE
        IF t.total_price = 0 OR NOT p_balance THEN
            INSERT INTO wallets (user_id) VALUES (p_user) ON CONFLICT DO NOTHING;
        END IF;
        UPDATE wallets SET balance = balance - t.total_price, updated_at = now()
         WHERE user_id = p_user AND (NOT p_balance OR balance >= t.total_price)
        RETURNING balance, now() INTO v_balance, v_at;
        IF NOT FOUND THEN
            v_rejection := 'INSUFFICIENT_BALANCE';
        END IF;
    END IF;
    IF v_rejection IS NULL THEN
        UPDATE reservations SET status = 'CONFIRMED'
         WHERE id = p_reservation AND user_id = p_user AND (NOT p_payable OR status = 'HELD');
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
    PERFORM record_idempotent_outcome(p_user, p_key, v);
    RETURN v;
END $$;
