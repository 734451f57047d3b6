-- Concert reservation schema. Every business invariant that can be stated over rows is stated
-- here, so that no code path (or operator with psql) can break it:
--   * a seat has at most one live (HELD or CONFIRMED) reservation line   -> reservation_seats_one_live
--   * a wallet balance is never negative                                 -> wallets_balance_check
--   * a reservation is paid at most once                                 -> payments_reservation_key
--   * one live queue token per user and concert                          -> queue_tokens_one_live
--   * an idempotency key is used once per user                           -> idempotency_records_pkey
--   * the ledger and payments are append-only                            -> *_append_only triggers
-- Time is always the database's now(); the application never sends a clock reading.

-- ---------------------------------------------------------------- catalogue

CREATE TABLE concerts (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title      TEXT        NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200 AND btrim(title) <> ''),
    venue      TEXT        NOT NULL CHECK (char_length(venue) BETWEEN 1 AND 200 AND btrim(venue) <> ''),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE schedules (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    concert_id BIGINT      NOT NULL REFERENCES concerts (id),
    starts_at  TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX schedules_concert_starts ON schedules (concert_id, starts_at);

CREATE TABLE seats (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    schedule_id BIGINT NOT NULL REFERENCES schedules (id),
    number      TEXT   NOT NULL CHECK (char_length(number) BETWEEN 1 AND 32),
    grade       TEXT   NOT NULL CHECK (char_length(grade) BETWEEN 1 AND 32),
    price       BIGINT NOT NULL CHECK (price >= 0),
    CONSTRAINT seats_number_key UNIQUE (schedule_id, number),
    -- lets reservation_seats reference (seat, schedule) so a line can never name a seat of
    -- another schedule than its reservation's
    CONSTRAINT seats_id_schedule_key UNIQUE (id, schedule_id)
);

-- ---------------------------------------------------------------- waiting queue

-- One row per concert: admission settings (NULL = the configured default) and the counters that
-- make a place-in-line lookup O(departures ahead) instead of O(line length).
CREATE TABLE concert_queues (
    concert_id       BIGINT  PRIMARY KEY REFERENCES concerts (id),
    -- the last issued seq (tokens get 1, 2, 3, ... per concert)
    next_seq         BIGINT  NOT NULL DEFAULT 0 CHECK (next_seq >= 0),
    -- every token with seq <= admitted_through has left the line (admitted or gone)
    admitted_through BIGINT  NOT NULL DEFAULT 0 CHECK (admitted_through >= 0),
    admit_batch      INTEGER CHECK (admit_batch BETWEEN 1 AND 1000000),
    max_active       INTEGER CHECK (max_active BETWEEN 1 AND 1000000),
    paused           BOOLEAN NOT NULL DEFAULT false,
    CONSTRAINT concert_queues_admitted_le_issued CHECK (admitted_through <= next_seq)
);

CREATE TABLE queue_tokens (
    id               UUID        PRIMARY KEY,
    user_id          BIGINT      NOT NULL CHECK (user_id > 0),
    concert_id       BIGINT      NOT NULL REFERENCES concert_queues (concert_id),
    seq              BIGINT      NOT NULL CHECK (seq > 0),
    status           TEXT        NOT NULL CHECK (status IN ('WAITING', 'ACTIVE', 'EXPIRED')),
    issued_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_polled_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    admitted_at      TIMESTAMPTZ,
    active_until     TIMESTAMPTZ,
    -- set when a token leaves the line while still WAITING (left, dropped idle, replaced)
    departed_waiting BOOLEAN     NOT NULL DEFAULT false,
    CONSTRAINT queue_tokens_seq_key UNIQUE (concert_id, seq),
    CONSTRAINT queue_tokens_active_has_window CHECK (status <> 'ACTIVE' OR active_until IS NOT NULL),
    CONSTRAINT queue_tokens_departed_is_expired CHECK (NOT departed_waiting OR status = 'EXPIRED')
);
-- one live place in line per user and concert
CREATE UNIQUE INDEX queue_tokens_one_live ON queue_tokens (user_id, concert_id)
    WHERE status IN ('WAITING', 'ACTIVE');
-- FIFO admission: the oldest waiting tokens of a concert
CREATE INDEX queue_tokens_waiting_seq ON queue_tokens (concert_id, seq) WHERE status = 'WAITING';
-- position lookups count only departures ahead
CREATE INDEX queue_tokens_departed_seq ON queue_tokens (concert_id, seq) WHERE departed_waiting;
-- active cap count and the active-window sweep
CREATE INDEX queue_tokens_active_until ON queue_tokens (concert_id, active_until) WHERE status = 'ACTIVE';
CREATE INDEX queue_tokens_active_sweep ON queue_tokens (active_until) WHERE status = 'ACTIVE';
-- the idle sweep, and the count of idle-but-unswept tokens ahead of a place in line
CREATE INDEX queue_tokens_idle_sweep ON queue_tokens (last_polled_at) WHERE status = 'WAITING';
CREATE INDEX queue_tokens_idle_by_concert ON queue_tokens (concert_id, last_polled_at)
    WHERE status = 'WAITING';

-- EXPIRED is final and an admitted token never goes back to waiting.
CREATE FUNCTION queue_token_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (OLD.status = 'EXPIRED' AND NEW.status <> 'EXPIRED')
        OR (OLD.status = 'ACTIVE' AND NEW.status = 'WAITING') THEN
        RAISE EXCEPTION 'queue token % cannot go from % to %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'queue_tokens_transition';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER queue_tokens_transition BEFORE UPDATE OF status ON queue_tokens
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION queue_token_transition();

-- One row per admission tick that admitted someone: the measured admission rate.
CREATE TABLE queue_admissions (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    concert_id  BIGINT      NOT NULL REFERENCES concert_queues (concert_id),
    admitted_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    admitted    INTEGER     NOT NULL CHECK (admitted > 0)
);
CREATE INDEX queue_admissions_recent ON queue_admissions (concert_id, admitted_at);

-- ---------------------------------------------------------------- reservations

CREATE TABLE reservations (
    id          UUID        PRIMARY KEY,
    user_id     BIGINT      NOT NULL CHECK (user_id > 0),
    schedule_id BIGINT      NOT NULL REFERENCES schedules (id),
    status      TEXT        NOT NULL CHECK (status IN ('HELD', 'CONFIRMED', 'EXPIRED', 'CANCELLED')),
    total_price BIGINT      NOT NULL CHECK (total_price >= 0),
    held_until  TIMESTAMPTZ NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT reservations_id_schedule_key UNIQUE (id, schedule_id),
    CONSTRAINT reservations_hold_after_creation CHECK (held_until > created_at)
);
CREATE INDEX reservations_user_newest ON reservations (user_id, created_at DESC, id DESC);
CREATE INDEX reservations_held_until ON reservations (held_until) WHERE status = 'HELD';
CREATE INDEX reservations_user_held ON reservations (user_id) WHERE status = 'HELD';

-- The seats of a reservation. `live` is true while the reservation is HELD or CONFIRMED; the
-- trigger below clears it when the reservation expires or is cancelled.
CREATE TABLE reservation_seats (
    reservation_id UUID    NOT NULL,
    schedule_id    BIGINT  NOT NULL,
    seat_id        BIGINT  NOT NULL,
    price          BIGINT  NOT NULL CHECK (price >= 0),
    live           BOOLEAN NOT NULL DEFAULT true,
    PRIMARY KEY (reservation_id, seat_id),
    FOREIGN KEY (reservation_id, schedule_id) REFERENCES reservations (id, schedule_id),
    FOREIGN KEY (seat_id, schedule_id) REFERENCES seats (id, schedule_id)
);
-- INVARIANT 1: a seat has at most one live (HELD or CONFIRMED) reservation.
CREATE UNIQUE INDEX reservation_seats_one_live ON reservation_seats (seat_id) WHERE live;
CREATE INDEX reservation_seats_schedule_live ON reservation_seats (schedule_id) WHERE live;

CREATE FUNCTION reservation_release_seats() RETURNS trigger LANGUAGE plpgsql AS $$
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
CREATE TRIGGER reservations_release_seats AFTER UPDATE OF status ON reservations
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION reservation_release_seats();

-- Once released (hold expired or cancelled), a line never becomes live again.
CREATE FUNCTION reservation_seat_stays_released() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT OLD.live AND NEW.live THEN
        RAISE EXCEPTION 'a released reservation line cannot become live again'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'reservation_seats_released_final';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER reservation_seats_stay_released BEFORE UPDATE ON reservation_seats
    FOR EACH ROW EXECUTE FUNCTION reservation_seat_stays_released();

-- ---------------------------------------------------------------- money

CREATE TABLE wallets (
    user_id    BIGINT      PRIMARY KEY CHECK (user_id > 0),
    -- INVARIANT 2: never negative (the maximum is enforced by the conditional charge update)
    balance    BIGINT      NOT NULL DEFAULT 0 CONSTRAINT wallets_balance_check CHECK (balance >= 0),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE payments (
    id             UUID        PRIMARY KEY,
    reservation_id UUID        NOT NULL REFERENCES reservations (id),
    user_id        BIGINT      NOT NULL REFERENCES wallets (user_id),
    amount         BIGINT      NOT NULL CHECK (amount >= 0),
    paid_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- INVARIANT 4: a reservation is paid at most once
    CONSTRAINT payments_reservation_key UNIQUE (reservation_id)
);

CREATE TABLE ledger_entries (
    id            UUID        PRIMARY KEY,
    user_id       BIGINT      NOT NULL REFERENCES wallets (user_id),
    kind          TEXT        NOT NULL CHECK (kind IN ('CHARGE', 'PAYMENT', 'REFUND')),
    amount        BIGINT      NOT NULL,
    balance_after BIGINT      NOT NULL CHECK (balance_after >= 0),
    reference     TEXT,
    payment_id    UUID        REFERENCES payments (id),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT ledger_entries_amount_sign CHECK (
        (kind = 'CHARGE' AND amount > 0)
        OR (kind = 'PAYMENT' AND amount <= 0 AND payment_id IS NOT NULL)
        OR (kind = 'REFUND' AND amount > 0)
    )
);
CREATE INDEX ledger_entries_user_newest ON ledger_entries (user_id, created_at DESC, id DESC);

CREATE FUNCTION forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER payments_append_only BEFORE UPDATE OR DELETE ON payments
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER payments_no_truncate BEFORE TRUNCATE ON payments
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();

-- ---------------------------------------------------------------- idempotency

-- The first answer given under a user's key. A record is written in the same transaction as the
-- effect it describes, so it exists exactly when the effect does.
CREATE TABLE idempotency_records (
    user_id        BIGINT      NOT NULL CHECK (user_id > 0),
    key            TEXT        NOT NULL CHECK (char_length(key) BETWEEN 1 AND 255),
    fingerprint    TEXT        NOT NULL,
    outcome        TEXT        NOT NULL CHECK (outcome IN ('CHARGED', 'CHARGE_REJECTED', 'PAID', 'PAYMENT_REJECTED')),
    rejection      TEXT        CHECK (rejection IN ('BALANCE_LIMIT_EXCEEDED', 'NOT_PAYABLE', 'INSUFFICIENT_BALANCE')),
    transaction_id UUID        REFERENCES ledger_entries (id),
    payment_id     UUID        REFERENCES payments (id),
    reservation_id UUID        REFERENCES reservations (id),
    amount         BIGINT      CHECK (amount >= 0),
    balance        BIGINT      CHECK (balance >= 0),
    occurred_at    TIMESTAMPTZ,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key),
    CONSTRAINT idempotency_records_outcome_shape CHECK (
        (outcome = 'CHARGED' AND rejection IS NULL AND transaction_id IS NOT NULL
            AND amount IS NOT NULL AND balance IS NOT NULL AND occurred_at IS NOT NULL)
        OR (outcome = 'CHARGE_REJECTED' AND rejection = 'BALANCE_LIMIT_EXCEEDED')
        OR (outcome = 'PAID' AND rejection IS NULL AND payment_id IS NOT NULL
            AND reservation_id IS NOT NULL AND amount IS NOT NULL AND balance IS NOT NULL
            AND occurred_at IS NOT NULL)
        OR (outcome = 'PAYMENT_REJECTED' AND rejection IN ('NOT_PAYABLE', 'INSUFFICIENT_BALANCE'))
    )
);
