//! Use cases of the concert reservation service: one method per endpoint, each driving the
//! domain's ports. No I/O of its own; time comes from the `Clock` port and ids from the
//! `IdGenerator` port, so every rule is testable with mocks.

mod catalogue;
mod gate;
mod jobs;
mod payments;
mod queue;
mod rate_limit;
mod refunds;
mod reservations;
mod services;
mod system;
mod waitlist;
mod wallet;

pub use gate::{GateError, QueueGate};
pub use jobs::MaintenanceJobs;
pub use queue::JoinOutcome;
pub use rate_limit::{JoinRateLimit, JoinRateLimiter};
pub use services::{Ports, Services, Settings};
pub use system::{SystemClock, UuidV7Generator};

/// A result that may be the replay of an earlier request under the same idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotent<T> {
    /// The answer (the first one, when replayed).
    pub value: T,
    /// True when the answer comes from the stored record and nothing ran.
    pub replayed: bool,
}
