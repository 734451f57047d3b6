//! The waiting queue: tickets, and the operator's view and controls.

use crate::errors::ApiError;
use chrono::{DateTime, Utc};
use domain::{QueueSettingsPatch, QueueStats, QueueTicket};
use paperclip::actix::Apiv2Schema;
use serde::{Deserialize, Serialize};

/// A place in a concert's line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct QueueTicketDto {
    /// The token (send it as `Queue-Token`).
    pub token: uuid::Uuid,
    /// The concert.
    pub concert_id: i64,
    /// `PRE_QUEUE` | `WAITING` | `ACTIVE` | `EXPIRED` (PRE_QUEUE: joined before the sale
    /// opened, placed by the draw at the opening).
    pub status: &'static str,
    /// 1-based place among those waiting (null unless WAITING).
    pub position: Option<u64>,
    /// Expected wait from the measured admission rate (null unless WAITING).
    pub estimated_wait_seconds: Option<u64>,
    /// When the active window closes (null unless ACTIVE).
    pub active_until: Option<DateTime<Utc>>,
    /// When the concert's sale opens (the pre-queue draw), or null.
    pub sale_opens_at: Option<DateTime<Utc>>,
}

impl From<&QueueTicket> for QueueTicketDto {
    fn from(t: &QueueTicket) -> Self {
        Self {
            token: t.token.get(),
            concert_id: t.concert_id.get(),
            status: t.status.as_str(),
            position: t.position,
            estimated_wait_seconds: t.estimated_wait_seconds,
            active_until: t.active_until,
            sale_opens_at: t.sale_opens_at,
        }
    }
}

/// An operator's view of one concert's queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct QueueStatsDto {
    /// Tokens waiting.
    pub waiting: u64,
    /// Tokens active.
    pub active: u64,
    /// Tokens admitted per tick.
    pub admit_batch: u32,
    /// Cap of active tokens.
    pub max_active: u32,
    /// True while admission is paused.
    pub paused: bool,
    /// Tokens admitted in the last 60 seconds.
    pub admitted_last_minute: u64,
    /// Live PRE_QUEUE tokens (counted like `waiting`): the places the draw will shuffle.
    pub pre_queue: u64,
    /// When the pre-queue draw happened, or null before it.
    pub drawn_at: Option<DateTime<Utc>>,
    /// When the concert's sale opens, or null.
    pub sale_opens_at: Option<DateTime<Utc>>,
    /// When the concert's sale closes to new joins, or null.
    pub sale_closes_at: Option<DateTime<Utc>>,
}

impl From<&QueueStats> for QueueStatsDto {
    fn from(s: &QueueStats) -> Self {
        Self {
            waiting: s.waiting,
            active: s.active,
            admit_batch: s.settings.admit_batch,
            max_active: s.settings.max_active,
            paused: s.settings.paused,
            admitted_last_minute: s.admitted_last_minute,
            pre_queue: s.pre_queue,
            drawn_at: s.drawn_at,
            sale_opens_at: s.sale.opens_at(),
            sale_closes_at: s.sale.closes_at(),
        }
    }
}

/// An operator's change to a concert's admission settings; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueueSettingsPatchRequest {
    /// Tokens admitted per tick (1 to the `maximum` stated in this schema).
    pub admit_batch: Option<u32>,
    /// Cap of active tokens (1 to the `maximum` stated in this schema).
    pub max_active: Option<u32>,
    /// Pause or resume admission.
    pub paused: Option<bool>,
}

impl QueueSettingsPatchRequest {
    /// Validates the patch.
    ///
    /// # Errors
    /// [`ApiError::Validation`] for a count of 0 or over [`domain::MAX_QUEUE_SETTING`].
    pub fn try_into_domain(self) -> Result<QueueSettingsPatch, ApiError> {
        QueueSettingsPatch::new(self.admit_batch, self.max_active, self.paused)
            .map_err(|e| ApiError::Validation(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_values_are_sent_as_null() {
        let dto = QueueTicketDto {
            token: uuid::Uuid::nil(),
            concert_id: 3,
            status: "ACTIVE",
            position: None,
            estimated_wait_seconds: None,
            active_until: None,
            sale_opens_at: None,
        };
        let v = serde_json::to_value(&dto).expect("json");
        for key in [
            "token",
            "concertId",
            "status",
            "position",
            "estimatedWaitSeconds",
            "activeUntil",
            "saleOpensAt",
        ] {
            assert!(v.get(key).is_some(), "{key} present");
        }
        assert!(v["position"].is_null());
    }

    #[test]
    fn patch_rejects_unknown_fields_and_zero() {
        let unknown = serde_json::from_value::<QueueSettingsPatchRequest>(
            serde_json::json!({"admitBatch": 5, "waiting": 1}),
        );
        assert!(unknown.is_err());
        let zero = QueueSettingsPatchRequest {
            admit_batch: Some(0),
            ..Default::default()
        };
        assert!(matches!(
            zero.try_into_domain(),
            Err(ApiError::Validation(_))
        ));
    }
}
