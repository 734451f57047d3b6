//! Negative controls for the PostgreSQL store, in the test's own database only.
//!
//! The schema's guards are SQL functions (`hold_payable`, `token_active`, `taken_seats`,
//! `release_lapsed_holds`, `wallet_covers`, `refund_allowed`, `lock_waitlist_date`,
//! `offerable_seats`) that the service's statements call. A control
//! replaces one in the database of the test that runs it, so the store runs exactly the
//! statements it runs in service, with only that guard changed. Nothing here is in the service
//! binary or in a migration; every statement carries the marker `NEGATIVE-CONTROL`. The lock
//! order is the one guard that is code, not SQL: `PgStore::with_guard_disabled` (cargo feature
//! `negative-controls`, test builds only).

#![allow(dead_code, missing_docs)]

use adapters_postgres::Guard;

/// The statements that switch `guard` off in a test database (empty for the lock order, which
/// the store switches itself).
pub fn control_sql(guard: Guard) -> &'static [&'static str] {
    match guard {
        // Every hold of existing seats succeeds: nothing is taken, lapsed holds stay as they are.
        Guard::SeatAvailability => &[
            "CREATE OR REPLACE FUNCTION taken_seats(p_seats bigint[]) RETURNS SETOF bigint \
             LANGUAGE sql STABLE AS $$ /* NEGATIVE-CONTROL */ SELECT NULL::bigint WHERE false $$",
            "CREATE OR REPLACE FUNCTION release_lapsed_holds(p_seats bigint[]) RETURNS integer \
             LANGUAGE sql AS $$ /* NEGATIVE-CONTROL */ SELECT 0 $$",
        ],
        // Any reservation of the payer is payable, whatever its status and time.
        Guard::Payable => &[
            "CREATE OR REPLACE FUNCTION hold_payable(p_status text, p_held_until timestamptz) \
             RETURNS boolean LANGUAGE sql VOLATILE AS $$ /* NEGATIVE-CONTROL */ SELECT true $$",
        ],
        // Any token of the payer for the concert lets them in, whatever its status and window.
        Guard::TokenActive => &[
            "CREATE OR REPLACE FUNCTION token_active(p_status text, p_active_until timestamptz) \
             RETURNS boolean LANGUAGE sql VOLATILE AS $$ /* NEGATIVE-CONTROL */ SELECT true $$",
        ],
        // Every debit happens, whatever the balance.
        Guard::Balance => &[
            "CREATE OR REPLACE FUNCTION wallet_covers(p_balance bigint, p_price bigint) \
             RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ /* NEGATIVE-CONTROL */ SELECT true $$",
        ],
        // Any reservation of the caller is refundable, whatever its status; with the schema's
        // backstop (one refund per reservation) dropped, so a second refund really credits.
        Guard::Refundable => &[
            "CREATE OR REPLACE FUNCTION refund_allowed(p_status text) RETURNS boolean \
             LANGUAGE sql IMMUTABLE AS $$ /* NEGATIVE-CONTROL */ SELECT true $$",
            "ALTER TABLE refunds DROP CONSTRAINT refunds_reservation_key /* NEGATIVE-CONTROL */",
        ],
        Guard::LockOrder => &[],
        // The offer step neither takes its date's lock nor re-checks its seats once locked:
        // two instances offer a seat that came back to two entries.
        Guard::WaitlistOffer => &[
            "CREATE OR REPLACE FUNCTION lock_waitlist_date(p_schedule bigint) RETURNS void \
             LANGUAGE sql VOLATILE AS $$ /* NEGATIVE-CONTROL */ SELECT $$",
            "CREATE OR REPLACE FUNCTION offerable_seats(p_seats bigint[]) RETURNS SETOF bigint \
             LANGUAGE sql STABLE AS $$ /* NEGATIVE-CONTROL */ SELECT unnest(p_seats) $$",
        ],
    }
}
