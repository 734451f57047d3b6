//! Refunds: one critical section judges the refund by the domain's rule
//! ([`RefundFacts::verdict`]), then marks the reservation REFUNDED, frees its seats
//! ([`State::release_reservation_seats`]), credits the wallet what was paid (never capped by
//! the balance maximum), writes the refund and its REFUND ledger entry, and records the outcome
//! under the key.

use crate::state::State;
use domain::guards::{Guard, Guards};
use domain::ports::NewRefund;
use domain::{
    refundable, LedgerEntry, LedgerKind, Money, RefundError, RefundFacts, RefundPolicy,
    RefundReceipt, RefundRejection, RefundVerdict, Reservation, ReservationStatus, StoreError,
    StoredOutcome, Timestamp,
};

impl State {
    /// What this store sees of a refund, for [`RefundFacts::verdict`]; the `Refundable` guard
    /// off (tests only) reads as satisfied.
    fn refund_facts(
        &self,
        reservation: Option<&Reservation>,
        policy: RefundPolicy,
        now: Timestamp,
        guards: Guards,
    ) -> RefundFacts {
        RefundFacts {
            found: reservation.is_some(),
            confirmed: !guards.on(Guard::Refundable)
                || reservation.is_some_and(|r| refundable(r.status)),
            window_open: reservation.is_some_and(|r| {
                self.schedules
                    .get(&r.schedule_id)
                    .is_some_and(|s| policy.window_open(s.starts_at, now))
            }),
        }
    }

    /// What the reservation's payment moved (the amount a refund gives back).
    fn paid_for(&self, reservation: &Reservation) -> Money {
        self.payments
            .values()
            .find(|p| p.reservation_id == reservation.id)
            .map_or(reservation.total_price, |p| p.amount)
    }

    /// A refund: a replay answers from its key's record; otherwise its facts are judged before
    /// any money moves.
    pub(crate) fn refund(
        &mut self,
        refund: &NewRefund,
        policy: RefundPolicy,
        now: Timestamp,
        guards: Guards,
    ) -> Result<RefundReceipt, RefundError> {
        if let Some(answer) = self
            .decision(refund.user_id, &refund.idempotency)
            .refund_answer()
        {
            return answer;
        }
        if self.transaction_ids.contains(&refund.transaction_id)
            || self.refunds.contains_key(&refund.refund_id)
        {
            return Err(
                StoreError::Internal("refund or transaction id already used".into()).into(),
            );
        }
        let reservation = self.users_reservation(refund.user_id, refund.reservation_id, now);
        let verdict = self
            .refund_facts(reservation.as_ref(), policy, now, guards)
            .verdict();
        match (verdict, reservation) {
            (RefundVerdict::Credit, Some(reservation)) => self.credit(refund, &reservation, now),
            (RefundVerdict::Refuse(error), _) => Err(error),
            (RefundVerdict::Reject(rejection), _) => Err(self.reject_refund(refund, rejection)),
            (RefundVerdict::Credit, None) => Err(RefundError::NotFound),
        }
    }

    fn reject_refund(&mut self, refund: &NewRefund, rejection: RefundRejection) -> RefundError {
        self.record_outcome(
            refund.user_id,
            &refund.idempotency,
            StoredOutcome::RefundRejected(rejection),
        );
        rejection.into()
    }

    /// The refund's writes, all in this critical section.
    fn credit(
        &mut self,
        refund: &NewRefund,
        reservation: &Reservation,
        now: Timestamp,
    ) -> Result<RefundReceipt, RefundError> {
        let amount = self.paid_for(reservation);
        // No cap: a refund gives back money the user already had (see `domain::refund`).
        let after = self
            .wallet(refund.user_id)
            .balance
            .checked_add(amount)
            .ok_or_else(|| StoreError::Internal("balance overflows".into()))?;
        if let Some(r) = self.reservations.get_mut(&reservation.id) {
            r.status = ReservationStatus::Refunded;
        }
        self.release_reservation_seats(reservation.id);
        self.post(LedgerEntry {
            id: refund.transaction_id,
            user_id: refund.user_id,
            kind: LedgerKind::Refund,
            amount: amount.won(),
            balance_after: after,
            reference: Some(refund.refund_id.to_string()),
            created_at: now,
        });
        let receipt = RefundReceipt {
            refund_id: refund.refund_id,
            reservation_id: reservation.id,
            amount,
            balance_after: after,
            refunded_at: now,
        };
        self.refunds.insert(refund.refund_id, receipt.clone());
        self.record_outcome(
            refund.user_id,
            &refund.idempotency,
            StoredOutcome::Refunded(receipt.clone()),
        );
        Ok(receipt)
    }
}
