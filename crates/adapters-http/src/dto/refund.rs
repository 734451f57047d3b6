//! Refunds.

use chrono::{DateTime, Utc};
use domain::RefundReceipt;
use paperclip::actix::Apiv2Schema;
use serde::Serialize;

/// A completed refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct RefundReceiptDto {
    /// The refund.
    pub refund_id: uuid::Uuid,
    /// The reservation, now REFUNDED.
    pub reservation_id: uuid::Uuid,
    /// The amount credited in KRW (exactly what was paid).
    pub amount: i64,
    /// The wallet balance afterwards (may exceed the balance maximum).
    pub balance_after: i64,
    /// When it was refunded.
    pub refunded_at: DateTime<Utc>,
}

impl From<&RefundReceipt> for RefundReceiptDto {
    fn from(r: &RefundReceipt) -> Self {
        Self {
            refund_id: r.refund_id.get(),
            reservation_id: r.reservation_id.get(),
            amount: r.amount.won(),
            balance_after: r.balance_after.won(),
            refunded_at: r.refunded_at,
        }
    }
}
