-- Back to 2025-01-09-000000_guards_without_switches. Refunded reservations cannot be
-- represented before this migration: refuse to go down while any exists.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM refunds) THEN
        RAISE EXCEPTION 'refunds exist; this migration cannot be reverted';
    END IF;
END $$;

DROP FUNCTION refund_window_open(timestamptz, integer);
DROP FUNCTION refund_allowed(text);

ALTER TABLE idempotency_records
    DROP CONSTRAINT idempotency_records_outcome_shape,
    ADD CONSTRAINT idempotency_records_outcome_shape CHECK (
        (outcome = 'CHARGED' AND rejection IS NULL AND transaction_id IS NOT NULL
            AND amount IS NOT NULL AND balance IS NOT NULL AND occurred_at IS NOT NULL)
        OR (outcome = 'CHARGE_REJECTED' AND rejection = 'BALANCE_LIMIT_EXCEEDED')
        OR (outcome = 'PAID' AND rejection IS NULL AND payment_id IS NOT NULL
            AND reservation_id IS NOT NULL AND amount IS NOT NULL AND balance IS NOT NULL
            AND occurred_at IS NOT NULL)
        OR (outcome = 'PAYMENT_REJECTED' AND rejection IN ('NOT_PAYABLE', 'INSUFFICIENT_BALANCE'))
    ),
    DROP CONSTRAINT idempotency_records_rejection_check,
    ADD CONSTRAINT idempotency_records_rejection_check
        CHECK (rejection IN ('BALANCE_LIMIT_EXCEEDED', 'NOT_PAYABLE', 'INSUFFICIENT_BALANCE')),
    DROP CONSTRAINT idempotency_records_outcome_check,
    ADD CONSTRAINT idempotency_records_outcome_check
        CHECK (outcome IN ('CHARGED', 'CHARGE_REJECTED', 'PAID', 'PAYMENT_REJECTED'));
ALTER TABLE idempotency_records DROP COLUMN refund_id;

DROP INDEX ledger_entries_one_per_refund;
ALTER TABLE ledger_entries
    DROP CONSTRAINT ledger_entries_amount_sign,
    ADD CONSTRAINT ledger_entries_amount_sign CHECK (
        (kind = 'CHARGE' AND amount > 0)
        OR (kind = 'PAYMENT' AND amount <= 0 AND payment_id IS NOT NULL)
        OR (kind = 'REFUND' AND amount > 0)
    ),
    DROP CONSTRAINT ledger_entries_refund_fkey;
ALTER TABLE ledger_entries DROP COLUMN refund_id;

DROP TABLE refunds;
ALTER TABLE payments DROP CONSTRAINT payments_refund_target_key;

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

ALTER TABLE reservations DROP CONSTRAINT reservations_status_check;
ALTER TABLE reservations ADD CONSTRAINT reservations_status_check
    CHECK (status IN ('HELD', 'CONFIRMED', 'EXPIRED', 'CANCELLED'));
