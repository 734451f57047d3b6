//! The one SQL test of whether a reservation line still holds its seat, shared by the
//! catalogue's statements.

/// Whether the reservation of line `rs` still holds its seat (CONFIRMED, or HELD and unexpired),
/// as a scalar sub-select: one primary-key probe per live line. (Written as a join, the planner,
/// expecting ~1,000 lines per schedule, hashes the whole `reservations` table for each
/// schedule: 0.5 s for a 20-date listing with 100k reservations elsewhere, found by
/// scripts/bench.)
macro_rules! line_holds_seat {
    () => {
        "(SELECT r.status = 'CONFIRMED' OR (r.status = 'HELD' AND r.held_until > now()) \
          FROM reservations r WHERE r.id = rs.reservation_id)"
    };
}
