//! In-memory implementation of every store port of `domain::ports`.
//!
//! [`MemoryStore`] is the demo-mode store (no `DATABASE_URL`) and the mock server front-end teams
//! develop against, so it follows exactly the rules the PostgreSQL store follows:
//!
//! * every state-changing method is one critical section over the whole state (one mutex, never
//!   held across an `.await`), so every invariant holds at every instant;
//! * time-based rules are decided by the injected [`Clock`](domain::ports::Clock) only: a HELD reservation past
//!   `held_until`, an ACTIVE token past `active_until` and a WAITING token not polled within the
//!   idle timeout are EXPIRED for every purpose at once, whether or not a sweep ran;
//! * a waiting token's place in line is kept in a Fenwick tree over issue order, so it is exact
//!   and costs O(log n) even with a million tokens waiting.
//!
//! The modules import one another in one direction only (no module imports the crate root):
//! the port modules (`catalogue`, `queue`, `reservations`, `refunds`, `wallet`, `waitlist`,
//! `invariants` with `waitlist_checks`, `seed`) work
//! on [`MemoryStore`] (`store`) and its `State` (`state`), which is built of records, among them
//! a concert's waiting line (`line`) and its tokens (`token`), over `fenwick` and `time`.

mod catalogue;
mod fenwick;
mod invariants;
mod line;
mod queue;
mod refunds;
mod reservations;
mod seed;
mod state;
mod store;
#[cfg(test)]
mod tests;
mod time;
mod token;
mod waitlist;
mod waitlist_checks;
mod wallet;

#[doc(hidden)]
pub use domain::guards::Guard;
pub use domain::invariants::{InvariantReport, Violation};
pub use fenwick::Fenwick;
pub use seed::{DemoCatalogue, DEMO_SALE_OPENS_IN_MINUTES, DEMO_SEATS_PER_SCHEDULE};
pub use store::MemoryStore;
