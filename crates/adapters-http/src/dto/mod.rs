//! Request and response bodies: serde + OpenAPI schemas, camelCase, converted to and from the
//! domain here so that domain types carry no serde. Every request body rejects unknown fields,
//! so server-owned fields (prices, user ids, statuses) cannot be smuggled in.

pub mod admin;
pub mod catalogue;
pub mod demo;
pub mod health;
pub mod page;
pub mod payment;
pub mod queue;
pub mod refund;
pub mod reservation;
pub mod sale;
pub mod waitlist;
pub mod wallet;

pub use admin::*;
pub use catalogue::*;
pub use demo::*;
pub use health::*;
pub use page::*;
pub use payment::*;
pub use queue::*;
pub use refund::*;
pub use reservation::*;
pub use sale::*;
pub use waitlist::*;
pub use wallet::*;
