DROP FUNCTION offer_waitlist_seats(bigint, bigint);
DROP FUNCTION offerable_seats(bigint[]);
DROP FUNCTION lock_waitlist_date(bigint);
-- taken_seats as 2025-01-09-000000_guards_without_switches defined it.
CREATE OR REPLACE FUNCTION taken_seats(p_seats bigint[]) RETURNS SETOF bigint
LANGUAGE sql STABLE AS $$
    SELECT rs.seat_id FROM reservation_seats rs
    JOIN reservations r ON r.id = rs.reservation_id
    WHERE rs.seat_id = ANY(p_seats) AND rs.live
      AND (r.status = 'CONFIRMED' OR (r.status = 'HELD' AND r.held_until > now()))
$$;
DROP FUNCTION kept_for_waitlist(bigint);
DROP FUNCTION held_or_sold_seats(bigint[]);
DROP TABLE waitlist_entries;
DROP FUNCTION waitlist_entry_transition();
