//! Health answers.

use paperclip::actix::Apiv2Schema;
use serde::Serialize;

/// A health probe's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Apiv2Schema)]
pub struct HealthDto {
    /// `ok` (live) or `ready` (ready).
    pub status: &'static str,
}
