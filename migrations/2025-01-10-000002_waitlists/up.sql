-- Waiting lists for sold-out dates (API.md, "Additions of v1.1", "Waiting lists").
--
-- What the schema enforces (docs/erd.md):
--   * one live (WAITING or OFFERED) entry per user and date      -> waitlist_entries_one_live
--   * a seat has at most one live offer                           -> waitlist_entries_one_offer_per_seat
--   * an offer reservation belongs to one entry, of its date      -> waitlist_entries_offer_reservation_key,
--                                                                    the (reservation, schedule) and
--                                                                    (seat, schedule) foreign keys
--   * an offer is a HELD reservation line like any hold, so the seat is never offered while held
--     or sold by anyone else                                      -> reservation_seats_one_live
--   * an entry's status moves forward only                        -> waitlist_entries_transition
-- The rule that keeps a seat that comes back for the list (THE rule of domain::waitlist,
-- seat_free_for_hold) is taken_seats below: while a date has WAITING entries, its free seats are
-- taken for every ordinary hold.

CREATE TABLE waitlist_entries (
    id                   UUID        PRIMARY KEY,
    user_id              BIGINT      NOT NULL CHECK (user_id > 0),
    schedule_id          BIGINT      NOT NULL REFERENCES schedules (id),
    -- the list's order (join order)
    seq                  BIGINT      NOT NULL GENERATED ALWAYS AS IDENTITY,
    status               TEXT        NOT NULL
        CHECK (status IN ('WAITING', 'OFFERED', 'FULFILLED', 'EXPIRED', 'LEFT')),
    -- the seat held for the entry, once offered (kept when the entry is final)
    offer_reservation_id UUID,
    offer_seat_id        BIGINT,
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT waitlist_entries_seq_key UNIQUE (seq),
    CONSTRAINT waitlist_entries_offer_reservation_fkey
        FOREIGN KEY (offer_reservation_id, schedule_id) REFERENCES reservations (id, schedule_id),
    CONSTRAINT waitlist_entries_offer_seat_fkey
        FOREIGN KEY (offer_seat_id, schedule_id) REFERENCES seats (id, schedule_id),
    CONSTRAINT waitlist_entries_offer_shape CHECK (
        (offer_reservation_id IS NULL) = (offer_seat_id IS NULL)
        AND (status <> 'WAITING' OR offer_reservation_id IS NULL)
        AND (status NOT IN ('OFFERED', 'FULFILLED') OR offer_reservation_id IS NOT NULL))
);
CREATE UNIQUE INDEX waitlist_entries_one_live ON waitlist_entries (user_id, schedule_id)
    WHERE status IN ('WAITING', 'OFFERED');
CREATE UNIQUE INDEX waitlist_entries_one_offer_per_seat ON waitlist_entries (offer_seat_id)
    WHERE status = 'OFFERED';
CREATE UNIQUE INDEX waitlist_entries_offer_reservation_key
    ON waitlist_entries (offer_reservation_id);
-- the list of a date, in order; the dates with offers to settle; a user's entries, newest first
CREATE INDEX waitlist_entries_waiting ON waitlist_entries (schedule_id, seq)
    WHERE status = 'WAITING';
CREATE INDEX waitlist_entries_offered ON waitlist_entries (schedule_id) WHERE status = 'OFFERED';
CREATE INDEX waitlist_entries_user_newest
    ON waitlist_entries (user_id, created_at DESC, id DESC);

-- WAITING -> OFFERED | LEFT; OFFERED -> FULFILLED | EXPIRED | LEFT; the rest is final.
CREATE FUNCTION waitlist_entry_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT ((OLD.status = 'WAITING' AND NEW.status IN ('OFFERED', 'LEFT'))
         OR (OLD.status = 'OFFERED' AND NEW.status IN ('FULFILLED', 'EXPIRED', 'LEFT'))) THEN
        RAISE EXCEPTION 'waiting-list entry % cannot go from % to %', OLD.id, OLD.status,
            NEW.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'waitlist_entries_transition';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER waitlist_entries_transition BEFORE UPDATE OF status ON waitlist_entries
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION waitlist_entry_transition();

-- The seats among p_seats that are sold or under an unexpired hold (offers included): what
-- taken_seats answered before this migration.
CREATE FUNCTION held_or_sold_seats(p_seats bigint[]) RETURNS SETOF bigint
LANGUAGE sql STABLE AS $$
    SELECT rs.seat_id FROM reservation_seats rs
    JOIN reservations r ON r.id = rs.reservation_id
    WHERE rs.seat_id = ANY(p_seats) AND rs.live
      AND (r.status = 'CONFIRMED' OR (r.status = 'HELD' AND r.held_until > now()))
$$;

-- Whether a date's free seats are kept for its waiting list: it has WAITING entries.
CREATE FUNCTION kept_for_waitlist(p_schedule bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM waitlist_entries
                    WHERE schedule_id = p_schedule AND status = 'WAITING')
$$;

-- THE rule for ordinary holds (domain::seat_free_for_hold): a seat is taken when it is held or
-- sold, or when its date has WAITING entries (then every free seat of it waits for its offer).
CREATE OR REPLACE FUNCTION taken_seats(p_seats bigint[]) RETURNS SETOF bigint
LANGUAGE sql STABLE AS $$
    SELECT seat FROM held_or_sold_seats(p_seats) AS h(seat)
    UNION
    SELECT st.id FROM seats st WHERE st.id = ANY(p_seats) AND kept_for_waitlist(st.schedule_id)
$$;

-- The offer step's guard: the seats among p_seats that may be offered (neither held nor sold).
-- Called with the seats locked, after release_lapsed_holds.
CREATE FUNCTION offerable_seats(p_seats bigint[]) RETURNS SETOF bigint
LANGUAGE sql STABLE AS $$
    SELECT s FROM unnest(p_seats) AS u(s)
    EXCEPT
    SELECT seat FROM held_or_sold_seats(p_seats) AS h(seat)
$$;

-- The offer step's first guard: one transaction offers a date's seats at a time, whatever the
-- number of instances (a transaction advisory lock, namespace 4; a leave takes it too, before
-- it locks the entry).
CREATE FUNCTION lock_waitlist_date(p_schedule bigint) RETURNS void
LANGUAGE sql VOLATILE AS $$
    SELECT pg_advisory_xact_lock(4, hashtext(p_schedule::text))
$$;

-- THE offer step for one date, in the caller's transaction (the scheduler's tick, a leave, a
-- cancel or a refund): one date is offered by one transaction at a time (lock_waitlist_date),
-- so several instances may run it at once; what it offers is re-checked once the seats are
-- locked (offerable_seats). Locks, in the store's order:
-- the date's lock, then its candidate seats in id order, then (release_lapsed_holds) the lapsed
-- holds on them in id order, then entries.
--   1. lapsed holds on the date's free seats expire (lapsed offers among them);
--   2. OFFERED entries whose reservation is no longer HELD are settled: EXPIRED, LEFT (the offer
--      was cancelled) or FULFILLED;
--   3. each free seat (offerable_seats, lowest id first) is held for the earliest WAITING entry:
--      a HELD reservation of that seat for the entry's user, for p_ttl_ms, exempt from the
--      per-user hold cap; the entry becomes OFFERED.
-- Returns how many offers it made.
CREATE FUNCTION offer_waitlist_seats(p_schedule bigint, p_ttl_ms bigint) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_candidates bigint[];
    v_free bigint[];
    v_made integer := 0;
    v_reservation uuid;
    v record;
BEGIN
    -- Most dates have no list: nothing to lock (a list made after this check is offered to by
    -- the scheduler's next tick; its seats are kept for it meanwhile by taken_seats).
    IF NOT EXISTS (SELECT 1 FROM waitlist_entries
                    WHERE schedule_id = p_schedule AND status IN ('WAITING', 'OFFERED')) THEN
        RETURN 0;
    END IF;
    PERFORM lock_waitlist_date(p_schedule);
    SELECT array_agg(st.id ORDER BY st.id) INTO v_candidates
      FROM seats st WHERE st.schedule_id = p_schedule
       AND st.id NOT IN (SELECT held_or_sold_seats(ARRAY(
               SELECT id FROM seats WHERE schedule_id = p_schedule)));
    IF v_candidates IS NOT NULL THEN
        PERFORM 1 FROM seats WHERE id = ANY(v_candidates) ORDER BY id FOR NO KEY UPDATE;
        PERFORM release_lapsed_holds(v_candidates);
    END IF;
    UPDATE waitlist_entries w
       SET status = CASE r.status WHEN 'CONFIRMED' THEN 'FULFILLED'
                                  WHEN 'CANCELLED' THEN 'LEFT' ELSE 'EXPIRED' END
      FROM reservations r
     WHERE w.schedule_id = p_schedule AND w.status = 'OFFERED'
       AND r.id = w.offer_reservation_id AND r.status <> 'HELD';
    IF v_candidates IS NULL OR NOT EXISTS (
           SELECT 1 FROM schedules WHERE id = p_schedule AND starts_at > now()) THEN
        RETURN 0;
    END IF;
    v_free := ARRAY(SELECT s FROM offerable_seats(v_candidates) AS o(s) ORDER BY 1);
    FOR v IN
        SELECT w.id, w.user_id, f.seat, st.price
          FROM (SELECT id, user_id, row_number() OVER (ORDER BY seq) AS n
                  FROM waitlist_entries
                 WHERE schedule_id = p_schedule AND status = 'WAITING'
                 ORDER BY seq LIMIT cardinality(v_free)) w
          JOIN unnest(v_free) WITH ORDINALITY AS f(seat, n) ON f.n = w.n
          JOIN seats st ON st.id = f.seat
         ORDER BY w.n
    LOOP
        v_reservation := gen_random_uuid();
        INSERT INTO reservations (id, user_id, schedule_id, status, total_price, held_until)
        VALUES (v_reservation, v.user_id, p_schedule, 'HELD', v.price,
                now() + p_ttl_ms * interval '1 millisecond');
        INSERT INTO reservation_seats (reservation_id, schedule_id, seat_id, price)
        VALUES (v_reservation, p_schedule, v.seat, v.price);
        UPDATE waitlist_entries
           SET status = 'OFFERED', offer_reservation_id = v_reservation, offer_seat_id = v.seat
         WHERE id = v.id AND status = 'WAITING';
        v_made := v_made + 1;
    END LOOP;
    RETURN v_made;
END $$;
