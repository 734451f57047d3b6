-- Back to the functions as 2025-01-01-000000_schema and 2025-01-03-000000_money_functions left them.

CREATE OR REPLACE FUNCTION pay_once(p_user bigint, p_key text, p_fingerprint text,
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
    PERFORM record_idempotent_outcome(p_user, p_key, v);
    RETURN v;
END $$;

CREATE OR REPLACE FUNCTION reservation_release_seats() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status IN ('CONFIRMED', 'EXPIRED', 'CANCELLED') AND NEW.status <> OLD.status THEN
        RAISE EXCEPTION 'reservation % is % and cannot become %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'reservations_final_status';
    END IF;
    IF NEW.status = 'EXPIRED' AND NEW.held_until > now() THEN
        RAISE EXCEPTION 'reservation % cannot expire before %', NEW.id, NEW.held_until
            USING ERRCODE = 'check_violation', CONSTRAINT = 'reservations_expire_after_deadline';
    END IF;
    IF NEW.status = 'CONFIRMED' AND (OLD.status <> 'HELD' OR NEW.held_until <= now()) THEN
        RAISE EXCEPTION 'reservation % is no longer payable', NEW.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'reservations_confirm_only_live_hold';
    END IF;
    IF NEW.status IN ('EXPIRED', 'CANCELLED') THEN
        UPDATE reservation_seats SET live = false WHERE reservation_id = NEW.id AND live;
    END IF;
    RETURN NEW;
END;
$$;

CREATE OR REPLACE FUNCTION reservation_seat_stays_released() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT OLD.live AND NEW.live THEN
        RAISE EXCEPTION 'a released reservation line cannot become live again'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'reservation_seats_released_final';
    END IF;
    RETURN NEW;
END;
$$;

DROP FUNCTION release_lapsed_holds(bigint[]);
DROP FUNCTION hold_payable(text, timestamptz);
