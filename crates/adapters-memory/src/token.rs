//! A queue token as the store keeps it: the token (whose status may be stale by time) and when
//! its holder last polled it.

use domain::{QueueToken, QueueTokenStatus, Timestamp};

/// A token as stored (its status may be stale by time) and when its holder last polled it.
#[derive(Debug, Clone)]
pub(crate) struct TokenRecord {
    pub(crate) token: QueueToken,
    pub(crate) last_poll: Timestamp,
}

impl TokenRecord {
    /// The status at `now`: ACTIVE past `active_until` and WAITING or PRE_QUEUE last polled at or before
    /// `idle_cutoff` (now minus the idle timeout) are EXPIRED.
    pub(crate) fn effective_status(
        &self,
        now: Timestamp,
        idle_cutoff: Timestamp,
    ) -> QueueTokenStatus {
        match self.token.status {
            QueueTokenStatus::Active if self.token.active_until.is_none_or(|u| u <= now) => {
                QueueTokenStatus::Expired
            }
            QueueTokenStatus::Waiting | QueueTokenStatus::PreQueue
                if self.last_poll <= idle_cutoff =>
            {
                QueueTokenStatus::Expired
            }
            other => other,
        }
    }

    /// The token with its status at `now`.
    pub(crate) fn view(&self, now: Timestamp, idle_cutoff: Timestamp) -> QueueToken {
        QueueToken {
            status: self.effective_status(now, idle_cutoff),
            ..self.token.clone()
        }
    }
}
