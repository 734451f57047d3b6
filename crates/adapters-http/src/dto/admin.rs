//! Operators' views added with v1.1: a date's waiting list in numbers.

use domain::{ScheduleId, WaitlistCounts};
use paperclip::actix::Apiv2Schema;
use serde::Serialize;

/// A date's waiting-list entries counted by effective status (an offer whose hold lapsed
/// counts as expired at once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct WaitlistCountsDto {
    /// The date.
    pub schedule_id: i64,
    /// Entries waiting for a seat.
    pub waiting: u64,
    /// Entries holding an offered seat.
    pub offered: u64,
    /// Entries whose offer was paid.
    pub fulfilled: u64,
    /// Entries whose offer lapsed.
    pub expired: u64,
    /// Entries that left the list.
    pub left: u64,
}

impl WaitlistCountsDto {
    /// The body for `schedule_id`'s counts.
    #[must_use]
    pub const fn new(schedule_id: ScheduleId, c: &WaitlistCounts) -> Self {
        Self {
            schedule_id: schedule_id.get(),
            waiting: c.waiting,
            offered: c.offered,
            fulfilled: c.fulfilled,
            expired: c.expired,
            left: c.left,
        }
    }
}
