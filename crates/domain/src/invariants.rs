//! The report of an invariant checker: which of the contract's six invariants a store found
//! broken. Both stores' checkers (and the tests that run them continuously) speak this type.

use crate::Timestamp;
use std::fmt;

/// One broken invariant, as the checker found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Which invariant of the API contract (1 to 6).
    pub invariant: u8,
    /// The check that failed (a short name, e.g. `seat_one_live`).
    pub check: &'static str,
    /// The offending records, in words.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invariant {} ({}): {}",
            self.invariant, self.check, self.detail
        )
    }
}

/// What one run of the checker saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvariantReport {
    /// The store's clock when the state was checked.
    pub checked_at: Timestamp,
    /// Every violation found; empty when all invariants hold.
    pub violations: Vec<Violation>,
}

impl InvariantReport {
    /// True when no invariant is broken.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }

    /// The invariants (1 to 6) with at least one violation, ascending, without repeats.
    #[must_use]
    pub fn broken(&self) -> Vec<u8> {
        let mut broken: Vec<u8> = self.violations.iter().map(|v| v.invariant).collect();
        broken.sort_unstable();
        broken.dedup();
        broken
    }
}
