//! The production clock and id generator: the two tiny pieces of the outside world that every
//! wiring needs, kept here so that the memory store, the binary and tests share them.

use domain::ports::{Clock, IdGenerator};
use domain::Timestamp;
use uuid::Uuid;

/// Wall-clock time.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        chrono::Utc::now()
    }
}

/// UUID v7 ids: unique and time-ordered, so B-tree indexes stay append-mostly.
#[derive(Debug, Clone, Copy, Default)]
pub struct UuidV7Generator;

impl IdGenerator for UuidV7Generator {
    fn next_uuid(&self) -> Uuid {
        Uuid::now_v7()
    }
}
