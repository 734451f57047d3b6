//! Wallets, the ledger, payments and idempotency records.

use crate::state::State;
use crate::store::MemoryStore;
use async_trait::async_trait;
use domain::guards::{Guard, Guards};
use domain::ports::{NewCharge, NewPayment, WalletStore};
use domain::{
    ChargeError, ChargeReceipt, ChargeRejection, Cursor, IdempotencyContext, IdempotencyDecision,
    IdempotencyKey, IdempotencyRecord, LedgerEntry, LedgerKind, Money, Page, PageRequest, PayError,
    PaymentReceipt, PaymentRejection, QueueAccessError, ReservationStatus, StoreError,
    StoredOutcome, Timestamp, TransactionId, UserId, Wallet, WalletPolicy,
};

fn ledger_cursor(e: &LedgerEntry) -> Cursor {
    Cursor {
        created_at: e.created_at,
        id: e.id.get(),
    }
}

/// What the idempotency record says to do with a request.
enum Prior {
    /// Nothing stored: run it.
    Fresh,
    /// Answer with this stored outcome.
    Replay(StoredOutcome),
    /// Another request used the key.
    Reused,
    /// The same request is still running (never observable here: a request runs in one
    /// critical section, but a shared record store could say so).
    InUse,
}

impl State {
    fn prior(&self, user_id: UserId, idempotency: &IdempotencyContext) -> Prior {
        let record = self
            .idempotency
            .get(&(user_id, idempotency.key.clone()))
            .cloned();
        match IdempotencyDecision::decide(record, &idempotency.fingerprint) {
            IdempotencyDecision::Proceed => Prior::Fresh,
            IdempotencyDecision::Replay(outcome) => Prior::Replay(outcome),
            IdempotencyDecision::Reused => Prior::Reused,
            IdempotencyDecision::InUse => Prior::InUse,
        }
    }

    fn record_outcome(
        &mut self,
        user_id: UserId,
        idempotency: &IdempotencyContext,
        outcome: StoredOutcome,
    ) {
        self.idempotency.insert(
            (user_id, idempotency.key.clone()),
            IdempotencyRecord {
                fingerprint: idempotency.fingerprint.clone(),
                outcome: Some(outcome),
            },
        );
    }

    fn wallet(&self, user_id: UserId) -> Wallet {
        Wallet {
            user_id,
            balance: self
                .wallets
                .get(&user_id)
                .map(|w| w.balance)
                .unwrap_or_default(),
        }
    }

    /// Appends a ledger entry and sets the new balance.
    fn post(&mut self, entry: LedgerEntry) {
        self.transaction_ids.insert(entry.id);
        let wallet = self.wallets.entry(entry.user_id).or_default();
        wallet.balance = entry.balance_after;
        wallet.places.insert(entry.id, wallet.ledger.len());
        wallet.ledger.push(entry);
    }

    fn charge(
        &mut self,
        charge: NewCharge,
        policy: &WalletPolicy,
        now: Timestamp,
    ) -> Result<ChargeReceipt, ChargeError> {
        match self.prior(charge.user_id, &charge.idempotency) {
            Prior::Fresh => {}
            Prior::Replay(StoredOutcome::Charged(receipt)) => return Ok(receipt),
            Prior::Replay(StoredOutcome::ChargeRejected(ChargeRejection::BalanceLimitExceeded)) => {
                return Err(ChargeError::BalanceLimitExceeded)
            }
            // A payment's outcome under this key: the key was used for another request.
            Prior::Replay(_) | Prior::Reused => return Err(ChargeError::IdempotencyKeyReused),
            Prior::InUse => return Err(ChargeError::IdempotencyKeyInUse),
        }
        if self.transaction_ids.contains(&charge.transaction_id) {
            return Err(StoreError::Internal("transaction id already used".into()).into());
        }
        let amount = charge.amount.money();
        let balance = self.wallet(charge.user_id).balance;
        let Some(after) = balance
            .checked_add(amount)
            .filter(|after| *after <= policy.balance_max())
        else {
            self.record_outcome(
                charge.user_id,
                &charge.idempotency,
                StoredOutcome::ChargeRejected(ChargeRejection::BalanceLimitExceeded),
            );
            return Err(ChargeError::BalanceLimitExceeded);
        };
        self.post(LedgerEntry {
            id: charge.transaction_id,
            user_id: charge.user_id,
            kind: LedgerKind::Charge,
            amount: amount.won(),
            balance_after: after,
            reference: Some(charge.idempotency.key.as_str().to_owned()),
            created_at: now,
        });
        let receipt = ChargeReceipt {
            transaction_id: charge.transaction_id,
            amount,
            balance: after,
            created_at: now,
        };
        self.record_outcome(
            charge.user_id,
            &charge.idempotency,
            StoredOutcome::Charged(receipt.clone()),
        );
        Ok(receipt)
    }

    fn reject_payment(&mut self, payment: &NewPayment, rejection: PaymentRejection) -> PayError {
        self.record_outcome(
            payment.user_id,
            &payment.idempotency,
            StoredOutcome::PaymentRejected(rejection),
        );
        match rejection {
            PaymentRejection::NotPayable => PayError::NotPayable,
            PaymentRejection::InsufficientBalance => PayError::InsufficientBalance,
        }
    }

    fn pay(
        &mut self,
        payment: &NewPayment,
        now: Timestamp,
        guards: Guards,
    ) -> Result<PaymentReceipt, PayError> {
        match self.prior(payment.user_id, &payment.idempotency) {
            Prior::Fresh => {}
            Prior::Replay(StoredOutcome::Paid(receipt)) => return Ok(receipt),
            Prior::Replay(StoredOutcome::PaymentRejected(PaymentRejection::NotPayable)) => {
                return Err(PayError::NotPayable)
            }
            Prior::Replay(StoredOutcome::PaymentRejected(
                PaymentRejection::InsufficientBalance,
            )) => return Err(PayError::InsufficientBalance),
            Prior::Replay(_) | Prior::Reused => return Err(PayError::IdempotencyKeyReused),
            Prior::InUse => return Err(PayError::IdempotencyKeyInUse),
        }
        if self.transaction_ids.contains(&payment.transaction_id)
            || self.payments.contains_key(&payment.payment_id)
        {
            return Err(
                StoreError::Internal("payment or transaction id already used".into()).into(),
            );
        }
        let reservation = self
            .users_reservation(payment.user_id, payment.reservation_id, now)
            .ok_or(PayError::ReservationNotFound)?;
        let token_active = self.token_admits(
            payment.queue_token,
            payment.user_id,
            reservation.concert_id,
            now,
        );
        if !token_active && guards.on(Guard::TokenActive) {
            return Err(QueueAccessError::NotActive.into());
        }
        if reservation.status != ReservationStatus::Held && guards.on(Guard::Payable) {
            return Err(self.reject_payment(payment, PaymentRejection::NotPayable));
        }
        let price = reservation.total_price;
        let balance = self.wallet(payment.user_id).balance;
        let Some(after) = balance.checked_sub(price).or_else(|| {
            // Tests only (guard off): debit anyway; the balance cannot show less than 0.
            (!guards.on(Guard::Balance)).then_some(Money::ZERO)
        }) else {
            return Err(self.reject_payment(payment, PaymentRejection::InsufficientBalance));
        };
        self.post(LedgerEntry {
            id: payment.transaction_id,
            user_id: payment.user_id,
            kind: LedgerKind::Payment,
            amount: -price.won(),
            balance_after: after,
            reference: Some(payment.payment_id.to_string()),
            created_at: now,
        });
        self.close_hold(reservation.id, ReservationStatus::Confirmed);
        self.expire_token(payment.queue_token);
        let receipt = PaymentReceipt {
            payment_id: payment.payment_id,
            reservation_id: reservation.id,
            amount: price,
            balance_after: after,
            paid_at: now,
        };
        self.payments.insert(payment.payment_id, receipt.clone());
        self.record_outcome(
            payment.user_id,
            &payment.idempotency,
            StoredOutcome::Paid(receipt.clone()),
        );
        Ok(receipt)
    }

    fn ledger_page(&self, user_id: UserId, page: PageRequest) -> Page<LedgerEntry> {
        let Some(wallet) = self.wallets.get(&user_id) else {
            return Page::from_overfetch(Vec::new(), page.limit(), ledger_cursor);
        };
        let take = usize::try_from(page.limit())
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        // Newest first; the cursor's entry is found by its id (an unknown one ends the list).
        let end = match page.after() {
            Some(c) => wallet
                .places
                .get(&TransactionId::from_uuid(c.id))
                .copied()
                .unwrap_or(0),
            None => wallet.ledger.len(),
        };
        let items: Vec<LedgerEntry> = wallet.ledger[..end]
            .iter()
            .rev()
            .take(take)
            .cloned()
            .collect();
        Page::from_overfetch(items, page.limit(), ledger_cursor)
    }
}

#[async_trait]
impl WalletStore for MemoryStore {
    async fn wallet(&self, user_id: UserId) -> Result<Wallet, StoreError> {
        Ok(self.state().wallet(user_id))
    }

    async fn charge(
        &self,
        charge: NewCharge,
        policy: WalletPolicy,
    ) -> Result<ChargeReceipt, ChargeError> {
        let (mut state, now) = self.state_at_now();
        state.charge(charge, &policy, now)
    }

    async fn pay(&self, payment: NewPayment) -> Result<PaymentReceipt, PayError> {
        let (mut state, now) = self.state_at_now();
        state.pay(&payment, now, self.guards())
    }

    async fn ledger(
        &self,
        user_id: UserId,
        page: PageRequest,
    ) -> Result<Page<LedgerEntry>, StoreError> {
        Ok(self.state().ledger_page(user_id, page))
    }

    async fn idempotency_record(
        &self,
        user_id: UserId,
        key: IdempotencyKey,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        Ok(self.state().idempotency.get(&(user_id, key)).cloned())
    }
}
