//! Admission slots: the time line is cut into consecutive intervals of `QUEUE_ADMIT_INTERVAL_MS`
//! counted from the Unix epoch, and a concert admits at most `admitBatch` tokens per slot, however
//! many admission ticks (of however many instances) run in it. Every tick reads the slot from one
//! clock (the database's, for PostgreSQL), so all instances agree on where a slot begins.

use crate::Timestamp;
use chrono::DateTime;
use std::time::Duration;

/// The start of the admission slot that contains `at`, for slots of `interval` (at least 1 µs)
/// counted from the Unix epoch.
#[must_use]
pub fn admission_slot(at: Timestamp, interval: Duration) -> Timestamp {
    let step = i64::try_from(interval.as_micros())
        .unwrap_or(i64::MAX)
        .max(1);
    let start = at.timestamp_micros().div_euclid(step).saturating_mul(step);
    DateTime::from_timestamp_micros(start).unwrap_or(at)
}

/// What a concert's queue remembers of its latest admission: the slot it happened in and how
/// many tokens that slot has admitted so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotRecord {
    /// Start of the slot (see [`admission_slot`]).
    pub slot: Timestamp,
    /// Tokens admitted in that slot.
    pub admitted: u64,
}

/// How many more tokens the slot starting at `slot` may admit, `batch` per slot: the whole batch
/// in a slot newer than the record, what the batch leaves in the recorded slot, and nothing when
/// the record is of a later slot (the interval was lengthened since, or the slot was read from a
/// clock that is behind): such a slot waits until the recorded one has passed.
#[must_use]
pub fn slot_room(batch: u32, record: Option<SlotRecord>, slot: Timestamp) -> u64 {
    let batch = u64::from(batch);
    match record {
        None => batch,
        Some(r) if r.slot < slot => batch,
        Some(r) if r.slot == slot => batch.saturating_sub(r.admitted),
        Some(_) => 0,
    }
}

/// The record after a tick of the slot starting at `slot` admitted `admitted` tokens (none:
/// the record stays as it was).
#[must_use]
pub fn record_admission(
    record: Option<SlotRecord>,
    slot: Timestamp,
    admitted: u64,
) -> Option<SlotRecord> {
    if admitted == 0 {
        return record;
    }
    let before = match record {
        Some(r) if r.slot == slot => r.admitted,
        _ => 0,
    };
    Some(SlotRecord {
        slot,
        admitted: before.saturating_add(admitted),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn at(secs: i64, millis: u32) -> Timestamp {
        Utc.timestamp_opt(secs, millis * 1_000_000)
            .single()
            .expect("valid")
    }

    #[test]
    fn slots_are_intervals_counted_from_the_epoch() {
        let second = Duration::from_secs(1);
        assert_eq!(admission_slot(at(100, 0), second), at(100, 0));
        assert_eq!(admission_slot(at(100, 999), second), at(100, 0));
        assert_eq!(admission_slot(at(101, 1), second), at(101, 0));
        let quarter = Duration::from_millis(250);
        assert_eq!(admission_slot(at(7, 740), quarter), at(7, 500));
        assert_eq!(admission_slot(at(-1, 100), second), at(-1, 0));
        // A sub-microsecond interval counts as one microsecond.
        assert_eq!(admission_slot(at(5, 3), Duration::from_nanos(1)), at(5, 3));
    }

    #[test]
    fn a_slot_admits_its_batch_once_however_many_ticks_run_in_it() {
        let slot = at(10, 0);
        assert_eq!(slot_room(5, None, slot), 5);
        let after_three = record_admission(None, slot, 3);
        assert_eq!(slot_room(5, after_three, slot), 2);
        let full = record_admission(after_three, slot, 2);
        assert_eq!(full, Some(SlotRecord { slot, admitted: 5 }));
        assert_eq!(slot_room(5, full, slot), 0);
        assert_eq!(slot_room(5, full, at(11, 0)), 5, "the next slot");
        assert_eq!(slot_room(5, full, at(9, 0)), 0, "an earlier slot waits");
        assert_eq!(record_admission(full, at(11, 0), 0), full);
        assert_eq!(
            record_admission(full, at(11, 0), 4),
            Some(SlotRecord {
                slot: at(11, 0),
                admitted: 4
            })
        );
        // An operator lowered the batch below what the slot already admitted.
        assert_eq!(slot_room(2, full, slot), 0);
    }
}
