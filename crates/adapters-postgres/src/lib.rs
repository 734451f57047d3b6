//! PostgreSQL store: implements every port of `domain::ports` ([`CatalogueStore`],
//! [`QueueStore`], [`ReservationStore`], [`WalletStore`], [`WaitlistStore`], [`StoreHealth`]) with
//! diesel-async over a deadpool pool.
//!
//! Design rules, followed by every method:
//!
//! * **One clock.** Every time decision uses the database's `now()`: expiry of holds, of active
//!   windows and of idle waiting tokens, "future" schedules, `held_until = now() + ttl`. A HELD
//!   reservation past `held_until` (and an ACTIVE token past `active_until`, a WAITING token idle
//!   past the timeout) is EXPIRED for every purpose at once, whether or not a sweep ran: reads
//!   compute the effective status in SQL and writes guard on it.
//! * **One transaction per state change, guard in SQL.** Conditional `UPDATE`s whose affected
//!   row count is checked; money and seat state are never read, changed in Rust and written back.
//! * **The schema refuses broken states** (see `migrations/`): a partial unique index allows one
//!   live reservation line per seat, `CHECK (balance >= 0)`, one live queue token per user and
//!   concert, one payment per reservation, an append-only ledger.
//! * **Errors.** An unreachable database, a pool timeout or a broken connection is
//!   [`StoreError::Unavailable`](domain::StoreError::Unavailable) (HTTP 503); every operation is
//!   bounded by [`PgConfig::operation_timeout`], so nothing hangs. Constraint violations map to the
//!   domain's errors. Deadlocks (which the lock ordering should make impossible) are retried.
//!
//! [`CatalogueStore`]: domain::ports::CatalogueStore
//! [`QueueStore`]: domain::ports::QueueStore
//! [`ReservationStore`]: domain::ports::ReservationStore
//! [`WalletStore`]: domain::ports::WalletStore
//! [`WaitlistStore`]: domain::ports::WaitlistStore
//! [`StoreHealth`]: domain::ports::StoreHealth

mod batch;
mod catalogue;
mod config;
mod connect;
mod db;
mod errors;
mod health;
mod invariants;
mod locks;
mod migrations;
mod outcome;
mod queue;
mod requests;
mod reservations;
mod rows;
mod sql;
mod store;
mod tokens;
mod waitlist;
mod wallet;

pub use config::PgConfig;
pub use connect::{connect, connect_lazy};
#[doc(hidden)]
pub use domain::guards::Guard;
pub use domain::invariants::{InvariantReport, Violation};
pub use errors::SetupError;
pub use migrations::{run_migrations, MIGRATIONS};
pub use store::PgStore;
