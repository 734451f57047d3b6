//! The contract cases. Each takes a fresh store and panics (fails) when the store breaks a rule
//! documented on the ports or in the API contract's invariants.

mod catalogue;
mod queue;
mod reservations;
mod waitlist;
mod wallet;

pub use catalogue::*;
pub use queue::*;
pub use reservations::*;
pub use waitlist::*;
pub use wallet::*;
