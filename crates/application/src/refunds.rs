//! The refund use case: replay first, then one atomic store step. No queue token: a ticket
//! holder gives a ticket back without queueing.

use crate::{Idempotent, Services};
use domain::ports::NewRefund;
use domain::{
    IdempotencyContext, RefundError, RefundId, RefundReceipt, ReservationId, TransactionId, UserId,
};
use tracing::instrument;

impl Services {
    /// Refunds one of the user's CONFIRMED reservations until the refund cut-off before its
    /// schedule starts: the reservation becomes REFUNDED, its seats free, the wallet credited
    /// what was paid. A replay is answered from the stored record before any other check.
    ///
    /// # Errors
    /// `IdempotencyKeyReused` / `IdempotencyKeyInUse`; `NotFound` (unknown or someone else's);
    /// `NotRefundable` (not CONFIRMED); `WindowClosed` (past the cut-off).
    #[instrument(skip(self, idempotency), fields(user_id = %user, reservation_id = %reservation_id, key = idempotency.key.as_str()))]
    pub async fn refund(
        &self,
        user: UserId,
        idempotency: IdempotencyContext,
        reservation_id: ReservationId,
    ) -> Result<Idempotent<RefundReceipt>, RefundError> {
        let decision = self.idempotency_decision(user, &idempotency).await?;
        if let Some(answer) = decision.refund_answer() {
            return answer.map(|value| Idempotent {
                value,
                replayed: true,
            });
        }
        let refund_id = RefundId::from_uuid(self.ports.ids.next_uuid());
        let refund = NewRefund {
            user_id: user,
            reservation_id,
            refund_id,
            transaction_id: TransactionId::from_uuid(self.ports.ids.next_uuid()),
            idempotency,
        };
        let receipt = self
            .ports
            .wallets
            .refund(refund, self.settings.refund)
            .await?;
        // A twin under the same key may have run first: the receipt is then the twin's.
        let replayed = receipt.refund_id != refund_id;
        if !replayed {
            self.offer_refunded_seats(user, reservation_id).await;
        }
        Ok(Idempotent {
            value: receipt,
            replayed,
        })
    }

    /// Hands the seats a refund freed to the date's waiting list. The refund's own transaction
    /// already keeps them for the list (a date with WAITING entries lends its free seats to no
    /// one else), so doing this right after it loses nothing; a failure here is logged and the
    /// scheduler's next tick makes the offers.
    async fn offer_refunded_seats(&self, user: UserId, reservation_id: ReservationId) {
        match self
            .ports
            .reservations
            .reservation(user, reservation_id)
            .await
        {
            Ok(Some(refunded)) => self.offer_freed_seats(refunded.schedule_id).await,
            Ok(None) => {}
            Err(e) => tracing::warn!(
                reservation_id = %reservation_id,
                error = %e,
                "waiting-list offers after a refund deferred to the next tick"
            ),
        }
    }
}
