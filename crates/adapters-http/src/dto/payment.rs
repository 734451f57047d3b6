//! Payments.

use chrono::{DateTime, Utc};
use domain::{PaymentReceipt, ReservationId};
use paperclip::actix::Apiv2Schema;
use serde::{Deserialize, Serialize};

/// A request to pay for one of the caller's HELD reservations.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PayRequest {
    /// The reservation (a UUID).
    pub reservation_id: uuid::Uuid,
}

impl PayRequest {
    /// The reservation to pay (the UUID was already checked when the body was read).
    #[must_use]
    pub const fn try_into_domain(&self) -> ReservationId {
        ReservationId::from_uuid(self.reservation_id)
    }
}

/// A completed payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentReceiptDto {
    /// The payment.
    pub payment_id: uuid::Uuid,
    /// The reservation, now CONFIRMED.
    pub reservation_id: uuid::Uuid,
    /// The amount debited in KRW (the reservation's total price).
    pub amount: i64,
    /// The wallet balance afterwards.
    pub balance_after: i64,
    /// When it was paid.
    pub paid_at: DateTime<Utc>,
}

impl From<&PaymentReceipt> for PaymentReceiptDto {
    fn from(p: &PaymentReceipt) -> Self {
        Self {
            payment_id: p.payment_id.get(),
            reservation_id: p.reservation_id.get(),
            amount: p.amount.won(),
            balance_after: p.balance_after.won(),
            paid_at: p.paid_at,
        }
    }
}
