-- Refunds (contract v1.1): a CONFIRMED reservation given back before its schedule's refund
-- cut-off. One transaction (crates/adapters-postgres/src/wallet/refund.rs) locks the
-- reservation, judges it with the guard functions below, credits the wallet, marks the
-- reservation REFUNDED (whose trigger frees its seats at once), and writes the refund, its
-- REFUND ledger entry and the outcome under the idempotency key.
--
-- What the schema states, whatever the code does:
--   * a reservation is refunded at most once                       -> refunds_reservation_key
--   * only a paid reservation, for exactly what was paid            -> refunds_payment_fkey
--   * REFUNDED only from CONFIRMED, and final                       -> reservations_release_seats
--   * a REFUNDED reservation holds no seat (its lines are released) -> reservations_release_seats
--   * one REFUND ledger entry per refund, of +amount                -> ledger_entries_one_per_refund,
--                                                                      ledger_entries_refund_fkey
-- The balance has no maximum in the schema (wallets_balance_check is only >= 0; the maximum is a
-- condition of the charge's UPDATE in charge_once), so a refund may take a balance over
-- BALANCE_MAX, as the contract says; charge_once then refuses every charge while it is over.

-- ---------------------------------------------------------------- reservation status

ALTER TABLE reservations DROP CONSTRAINT reservations_status_check;
ALTER TABLE reservations ADD CONSTRAINT reservations_status_check
    CHECK (status IN ('HELD', 'CONFIRMED', 'EXPIRED', 'CANCELLED', 'REFUNDED'));

-- The reservation's state machine (2025-01-04-000000_sold_once's body, plus REFUNDED):
-- CONFIRMED may become REFUNDED, and only if it was paid; REFUNDED is final and releases the
-- reservation's seat lines in the refund's own statement, so the seats are free at once.
CREATE OR REPLACE FUNCTION reservation_release_seats() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status IN ('EXPIRED', 'CANCELLED', 'REFUNDED') AND NEW.status <> OLD.status THEN
        RAISE EXCEPTION 'reservation % is % and cannot become %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'reservations_final_status';
    END IF;
    IF OLD.status = 'CONFIRMED' AND NEW.status <> 'REFUNDED' THEN
        RAISE EXCEPTION 'reservation % is % and cannot become %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'reservations_final_status';
    END IF;
    IF NEW.status = 'REFUNDED' AND (OLD.status <> 'CONFIRMED' OR NOT EXISTS (
        SELECT 1 FROM payments WHERE reservation_id = NEW.id)) THEN
        RAISE EXCEPTION 'reservation % was not paid and cannot be refunded', NEW.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'reservations_refund_only_paid';
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
    IF NEW.status IN ('EXPIRED', 'CANCELLED', 'REFUNDED') THEN
        UPDATE reservation_seats SET live = false WHERE reservation_id = NEW.id AND live;
    END IF;
    RETURN NEW;
END;
$$;

-- A line is released only together with its reservation (now also when it is REFUNDED), and a
-- released line stays released.
CREATE OR REPLACE FUNCTION reservation_seat_stays_released() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT OLD.live AND NEW.live THEN
        RAISE EXCEPTION 'a released reservation line cannot become live again'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'reservation_seats_released_final';
    END IF;
    IF OLD.live AND NOT NEW.live AND NOT EXISTS (
        SELECT 1 FROM reservations
         WHERE id = NEW.reservation_id AND status IN ('EXPIRED', 'CANCELLED', 'REFUNDED')) THEN
        RAISE EXCEPTION 'a seat line of reservation % is released only with its reservation',
            NEW.reservation_id
            USING ERRCODE = 'check_violation',
                  CONSTRAINT = 'reservation_seats_released_with_reservation';
    END IF;
    RETURN NEW;
END;
$$;

-- ---------------------------------------------------------------- refunds

-- Lets a refund name its payment together with the payment's reservation, payer and amount.
ALTER TABLE payments ADD CONSTRAINT payments_refund_target_key
    UNIQUE (id, reservation_id, user_id, amount);

CREATE TABLE refunds (
    id             UUID        PRIMARY KEY,
    reservation_id UUID        NOT NULL REFERENCES reservations (id),
    payment_id     UUID        NOT NULL,
    user_id        BIGINT      NOT NULL REFERENCES wallets (user_id),
    amount         BIGINT      NOT NULL CHECK (amount >= 0),
    refunded_at    TIMESTAMPTZ NOT NULL,
    -- a reservation is refunded at most once
    CONSTRAINT refunds_reservation_key UNIQUE (reservation_id),
    -- the refund of exactly this reservation's payment, to its payer, of exactly its amount
    CONSTRAINT refunds_payment_fkey FOREIGN KEY (payment_id, reservation_id, user_id, amount)
        REFERENCES payments (id, reservation_id, user_id, amount),
    -- lets the ledger entry name the refund together with its amount
    CONSTRAINT refunds_id_amount_key UNIQUE (id, amount)
);
CREATE TRIGGER refunds_append_only BEFORE UPDATE OR DELETE ON refunds
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER refunds_no_truncate BEFORE TRUNCATE ON refunds
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();

-- ---------------------------------------------------------------- ledger

ALTER TABLE ledger_entries ADD COLUMN refund_id UUID;
ALTER TABLE ledger_entries
    ADD CONSTRAINT ledger_entries_refund_fkey FOREIGN KEY (refund_id, amount)
        REFERENCES refunds (id, amount),
    DROP CONSTRAINT ledger_entries_amount_sign,
    ADD CONSTRAINT ledger_entries_amount_sign CHECK (
        (kind = 'CHARGE' AND amount > 0 AND refund_id IS NULL)
        OR (kind = 'PAYMENT' AND amount <= 0 AND payment_id IS NOT NULL AND refund_id IS NULL)
        OR (kind = 'REFUND' AND amount > 0 AND refund_id IS NOT NULL)
    );
CREATE UNIQUE INDEX ledger_entries_one_per_refund ON ledger_entries (refund_id)
    WHERE refund_id IS NOT NULL;

-- ---------------------------------------------------------------- idempotency

ALTER TABLE idempotency_records ADD COLUMN refund_id UUID REFERENCES refunds (id);
ALTER TABLE idempotency_records
    DROP CONSTRAINT idempotency_records_outcome_check,
    ADD CONSTRAINT idempotency_records_outcome_check CHECK (outcome IN (
        'CHARGED', 'CHARGE_REJECTED', 'PAID', 'PAYMENT_REJECTED', 'REFUNDED', 'REFUND_REJECTED')),
    DROP CONSTRAINT idempotency_records_rejection_check,
    ADD CONSTRAINT idempotency_records_rejection_check CHECK (rejection IN (
        'BALANCE_LIMIT_EXCEEDED', 'NOT_PAYABLE', 'INSUFFICIENT_BALANCE', 'NOT_REFUNDABLE',
        'REFUND_WINDOW_CLOSED')),
    DROP CONSTRAINT idempotency_records_outcome_shape,
    ADD CONSTRAINT idempotency_records_outcome_shape CHECK (
        (outcome = 'CHARGED' AND rejection IS NULL AND transaction_id IS NOT NULL
            AND amount IS NOT NULL AND balance IS NOT NULL AND occurred_at IS NOT NULL)
        OR (outcome = 'CHARGE_REJECTED' AND rejection = 'BALANCE_LIMIT_EXCEEDED')
        OR (outcome = 'PAID' AND rejection IS NULL AND payment_id IS NOT NULL
            AND reservation_id IS NOT NULL AND amount IS NOT NULL AND balance IS NOT NULL
            AND occurred_at IS NOT NULL)
        OR (outcome = 'PAYMENT_REJECTED' AND rejection IN ('NOT_PAYABLE', 'INSUFFICIENT_BALANCE'))
        OR (outcome = 'REFUNDED' AND rejection IS NULL AND refund_id IS NOT NULL
            AND reservation_id IS NOT NULL AND amount IS NOT NULL AND balance IS NOT NULL
            AND occurred_at IS NOT NULL)
        OR (outcome = 'REFUND_REJECTED' AND rejection IN ('NOT_REFUNDABLE', 'REFUND_WINDOW_CLOSED'))
    );

-- ---------------------------------------------------------------- guards

-- Whether a reservation in p_status may be refunded. Called with the reservation's row lock
-- held. A negative control replaces it (crates/adapters-postgres/tests/common/controls.rs).
CREATE FUNCTION refund_allowed(p_status text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT p_status = 'CONFIRMED'
$$;

-- Whether refunds of a schedule starting at p_starts_at are still open: strictly before
-- p_cutoff_hours ahead of it, on the database's clock read when it is called (after the
-- reservation's lock), as domain::RefundPolicy::window_open states the same rule.
CREATE FUNCTION refund_window_open(p_starts_at timestamptz, p_cutoff_hours integer)
RETURNS boolean LANGUAGE sql VOLATILE AS $$
    SELECT clock_timestamp() < p_starts_at - make_interval(hours => p_cutoff_hours)
$$;
