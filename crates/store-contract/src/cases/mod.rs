//! The contract cases. Each takes a fresh store and panics (fails) when the store breaks a rule
//! documented on the ports or in the API contract's invariants.

mod catalogue;
mod queue;
mod refunds;
mod reservations;
mod sale;
mod waitlist;
mod wallet;

pub use catalogue::*;
pub use queue::*;
pub use refunds::*;
pub use reservations::*;
pub use sale::*;
pub use waitlist::*;
pub use wallet::*;
