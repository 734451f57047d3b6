//! The payment use case: replay first, then the queue gate, then one atomic store step.

use crate::{Idempotent, QueueGate, Services};
use domain::ports::NewPayment;
use domain::{
    IdempotencyContext, IdempotencyDecision, PayError, PaymentId, PaymentReceipt, PaymentRejection,
    QueueTokenId, ReservationId, StoredOutcome, TransactionId, UserId,
};
use tracing::instrument;

impl Services {
    /// Pays for one of the user's HELD reservations with exactly its total price. A replay is
    /// answered from the stored record before any other check (even after the payment has
    /// expired the queue token). A live waiting-list offer may be paid without a queue token.
    ///
    /// # Errors
    /// `IdempotencyKeyReused` / `IdempotencyKeyInUse`; `Access` for a missing (and the
    /// reservation is no live offer) or inactive queue token; `ReservationNotFound`; `NotPayable`; `InsufficientBalance`.
    #[instrument(skip(self, idempotency, token), fields(user_id = %user, reservation_id = %reservation_id, key = idempotency.key.as_str()))]
    pub async fn pay(
        &self,
        user: UserId,
        token: Option<QueueTokenId>,
        idempotency: IdempotencyContext,
        reservation_id: ReservationId,
    ) -> Result<Idempotent<PaymentReceipt>, PayError> {
        match self.idempotency_decision(user, &idempotency).await? {
            IdempotencyDecision::Proceed => {}
            IdempotencyDecision::Replay(outcome) => return replay_payment(outcome),
            IdempotencyDecision::InUse => return Err(PayError::IdempotencyKeyInUse),
            IdempotencyDecision::Reused => return Err(PayError::IdempotencyKeyReused),
        }
        if let Some(token) = token {
            if let Some(stop) = self
                .pay_gate(user, token, &idempotency, reservation_id)
                .await
            {
                return stop;
            }
        }
        // Without a token only a live waiting-list offer may be paid: the store decides, under
        // the reservation's lock (`PaymentFacts::verdict`), and answers `TokenRequired` for any
        // other reservation.
        let payment_id = PaymentId::from_uuid(self.ports.ids.next_uuid());
        let payment = NewPayment {
            user_id: user,
            reservation_id,
            queue_token: token,
            payment_id,
            transaction_id: TransactionId::from_uuid(self.ports.ids.next_uuid()),
            idempotency,
        };
        let receipt = self.ports.wallets.pay(payment).await?;
        // A twin under the same key may have run first (this request waited for it, or found
        // its record inside the store, alone or in a batch): the receipt is then the twin's, a
        // replay.
        let replayed = receipt.payment_id != payment_id;
        Ok(Idempotent {
            value: receipt,
            replayed,
        })
    }
}

impl Services {
    /// The queue gate of a payment that names a token: the reservation must be the caller's
    /// and the token the caller's ACTIVE one for its concert. `Some(answer)` stops the payment
    /// with that answer (a refusal, or the replay of a twin that committed meanwhile).
    async fn pay_gate(
        &self,
        user: UserId,
        token: QueueTokenId,
        idempotency: &IdempotencyContext,
        reservation_id: ReservationId,
    ) -> Option<Result<Idempotent<PaymentReceipt>, PayError>> {
        // The reservation and the token at once (one wait instead of two).
        let gate = self.gate();
        let (reservation, looked_up) = futures::future::join(
            self.ports.reservations.reservation(user, reservation_id),
            gate.lookup(Some(token)),
        )
        .await;
        let reservation = match reservation {
            Ok(Some(r)) => r,
            Ok(None) => return Some(Err(PayError::ReservationNotFound)),
            Err(e) => return Some(Err(e.into())),
        };
        let refused =
            match looked_up.and_then(|t| QueueGate::authorize(t, user, reservation.concert_id)) {
                Ok(_) => return None,
                Err(refused) => refused,
            };
        // A twin of this request may have committed since the lookup above and spent the queue
        // token: its stored answer is this request's answer.
        match self.idempotency_decision(user, idempotency).await {
            Ok(IdempotencyDecision::Replay(outcome)) => Some(replay_payment(outcome)),
            Ok(_) => Some(Err(refused.into())),
            Err(e) => Some(Err(e.into())),
        }
    }
}

/// Turns a stored outcome back into the payment's answer.
fn replay_payment(outcome: StoredOutcome) -> Result<Idempotent<PaymentReceipt>, PayError> {
    match outcome {
        StoredOutcome::Paid(receipt) => Ok(Idempotent {
            value: receipt,
            replayed: true,
        }),
        StoredOutcome::PaymentRejected(PaymentRejection::NotPayable) => Err(PayError::NotPayable),
        StoredOutcome::PaymentRejected(PaymentRejection::InsufficientBalance) => {
            Err(PayError::InsufficientBalance)
        }
        StoredOutcome::Charged(_)
        | StoredOutcome::ChargeRejected(_)
        | StoredOutcome::Refunded(_)
        | StoredOutcome::RefundRejected(_) => Err(PayError::IdempotencyKeyReused),
    }
}
