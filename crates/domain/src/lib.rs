//! Pure rules of the concert reservation service.
//!
//! Nothing in this crate does I/O: it holds the value objects (parsed once, valid forever), the
//! aggregates and their state machines, the per-operation error enums, and the port traits that
//! the application drives and the adapters implement.

pub mod admission;
pub mod catalogue;
pub mod draw;
pub mod errors;
pub mod guards;
pub mod idempotency;
pub mod ids;
pub mod invariants;
pub mod money;
pub mod page;
pub mod policy;
pub mod ports;
pub mod queue;
pub mod refund;
pub mod reservation;
pub mod sale;
pub mod verdicts;
pub mod waitlist;
pub mod wallet;

pub use admission::*;
pub use catalogue::*;
pub use draw::*;
pub use errors::*;
pub use idempotency::*;
pub use ids::*;
pub use money::*;
pub use page::*;
pub use policy::*;
pub use queue::*;
pub use refund::*;
pub use reservation::*;
pub use sale::*;
pub use verdicts::*;
pub use waitlist::*;
pub use wallet::*;

/// The time type used everywhere: an instant in UTC.
pub type Timestamp = chrono::DateTime<chrono::Utc>;
