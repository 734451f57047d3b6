-- Sold once, whatever the timing: closes the hold-expiry boundary double sale.
--
-- Before this migration a payment judged "still in time" by its transaction's start (`now()`),
-- and a hold that found a lapsed hold on its seats released only that hold's lines, leaving the
-- reservation HELD. A payment that began a few milliseconds before the deadline and reached the
-- reservation's lock after another user's hold had taken the seat confirmed a reservation whose
-- seat line was no longer live: the seat was sold to one user and held (then sold) by another.
--
-- Three rules, each enough on its own to refuse that sale (docs/concurrency.md):
--   1. "In time" is decided after the reservation's row lock is held, on the database's clock
--      (`hold_payable`, read with clock_timestamp()), by every payment path.
--   2. A lapsed hold is released only by moving its reservation to EXPIRED, in the releasing
--      transaction (`release_lapsed_holds`, and the trigger on reservation_seats refuses to
--      release a line of a reservation that is still HELD or CONFIRMED).
--   3. A reservation becomes CONFIRMED only while every one of its seat lines is live, checked by
--      the trigger of the UPDATE that confirms it.

-- Rule 1: whether a reservation can be paid right now. Call it only while holding the
-- reservation's row lock: the clock is read when it is called, not at the transaction's start.
CREATE FUNCTION hold_payable(p_status text, p_held_until timestamptz) RETURNS boolean
LANGUAGE sql VOLATILE AS $$
    SELECT p_status = 'HELD' AND p_held_until > clock_timestamp()
$$;

-- Rule 2: expires the lapsed holds that still have a live line on one of `p_seats` (their
-- reservations locked in id order, as the sweep, cancel and payments lock a reservation before
-- its lines); the trigger reservations_release_seats releases every line of each. Returns how
-- many reservations it expired.
CREATE FUNCTION release_lapsed_holds(p_seats bigint[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_ids uuid[];
BEGIN
    SELECT array_agg(id) INTO v_ids FROM (
        SELECT r.id FROM reservations r
         WHERE r.status = 'HELD' AND r.held_until <= now() AND r.id IN (
               SELECT rs.reservation_id FROM reservation_seats rs
                WHERE rs.seat_id = ANY(p_seats) AND rs.live)
         ORDER BY r.id FOR NO KEY UPDATE OF r) locked;
    IF v_ids IS NULL THEN
        RETURN 0;
    END IF;
    UPDATE reservations SET status = 'EXPIRED'
     WHERE id = ANY(v_ids) AND status = 'HELD' AND held_until <= now();
    RETURN cardinality(v_ids);
END $$;

-- Rule 3, and the reservation's final states (unchanged from the first migration otherwise).
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
    IF NEW.status = 'CONFIRMED' AND EXISTS (
        SELECT 1 FROM reservation_seats WHERE reservation_id = NEW.id AND NOT live) THEN
        RAISE EXCEPTION 'reservation % has a released seat line and cannot be confirmed', NEW.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'reservations_confirm_only_live_lines';
    END IF;
    IF NEW.status IN ('EXPIRED', 'CANCELLED') THEN
        UPDATE reservation_seats SET live = false WHERE reservation_id = NEW.id AND live;
    END IF;
    RETURN NEW;
END;
$$;

-- Rule 2's backstop: a line is released only together with its reservation (which must already
-- be EXPIRED or CANCELLED in this transaction), and a released line stays released.
CREATE OR REPLACE FUNCTION reservation_seat_stays_released() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT OLD.live AND NEW.live THEN
        RAISE EXCEPTION 'a released reservation line cannot become live again'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'reservation_seats_released_final';
    END IF;
    IF OLD.live AND NOT NEW.live AND NOT EXISTS (
        SELECT 1 FROM reservations
         WHERE id = NEW.reservation_id AND status IN ('EXPIRED', 'CANCELLED')) THEN
        RAISE EXCEPTION 'a seat line of reservation % is released only with its reservation',
            NEW.reservation_id
            USING ERRCODE = 'check_violation',
                  CONSTRAINT = 'reservation_seats_released_with_reservation';
    END IF;
    RETURN NEW;
END;
$$;

-- A payment alone: as in 2025-01-03-000000_money_functions, but "in time" is rule 1 (decided
-- after the reservation's lock), and a payer without a wallet row can pay a 0-won reservation
-- (the memory store's answer: a wallet that was never charged has balance 0).
CREATE OR REPLACE FUNCTION pay_once(p_user bigint, p_key text, p_fingerprint text,
                                    p_reservation uuid, p_token uuid, p_payment uuid,
                                    p_transaction uuid, p_payable boolean,
                                    p_token_active boolean, p_balance boolean, p_wait_ms integer)
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
