//! Wallets, the ledger, payments and idempotency records.

use crate::state::State;
use crate::store::MemoryStore;
use async_trait::async_trait;
use domain::guards::{Guard, Guards};
use domain::ports::{NewCharge, NewPayment, NewRefund, WalletStore};
use domain::{
    ChargeError, ChargeReceipt, ChargeRejection, Cursor, IdempotencyContext, IdempotencyDecision,
    IdempotencyKey, IdempotencyRecord, LedgerEntry, LedgerKind, Money, Page, PageRequest, PayError,
    PaymentFacts, PaymentReceipt, PaymentRejection, PaymentVerdict, RefundError, RefundPolicy,
    RefundReceipt, Reservation, ReservationStatus, StoreError, StoredOutcome, Timestamp,
    TransactionId, UserId, Wallet, WalletPolicy,
};

fn ledger_cursor(e: &LedgerEntry) -> Cursor {
    Cursor {
        created_at: e.created_at,
        id: e.id.get(),
    }
}

impl State {
    /// What the record under the request's key says to do with it.
    pub(crate) fn decision(
        &self,
        user_id: UserId,
        idempotency: &IdempotencyContext,
    ) -> IdempotencyDecision {
        let record = self
            .idempotency
            .get(&(user_id, idempotency.key.clone()))
            .cloned();
        IdempotencyDecision::decide(record, &idempotency.fingerprint)
    }

    pub(crate) fn record_outcome(
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

    pub(crate) fn wallet(&self, user_id: UserId) -> Wallet {
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
    pub(crate) fn post(&mut self, entry: LedgerEntry) {
        self.transaction_ids.insert(entry.id);
        let wallet = self.wallets.entry(entry.user_id).or_default();
        wallet.balance = entry.balance_after;
        wallet.places.insert(entry.id, wallet.ledger.len());
        wallet.ledger.push(entry);
    }

    /// A charge: a replay answers from its key's record; otherwise the wallet is credited up to
    /// the policy's maximum balance.
    fn charge(
        &mut self,
        charge: NewCharge,
        policy: &WalletPolicy,
        now: Timestamp,
    ) -> Result<ChargeReceipt, ChargeError> {
        if let Some(answer) = self
            .decision(charge.user_id, &charge.idempotency)
            .charge_answer()
        {
            return answer;
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
            let rejection = ChargeRejection::BalanceLimitExceeded;
            self.record_outcome(
                charge.user_id,
                &charge.idempotency,
                StoredOutcome::ChargeRejected(rejection),
            );
            return Err(rejection.into());
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
        rejection.into()
    }

    /// What this store sees of a payment, for [`PaymentFacts::verdict`]; a guard that is off
    /// (tests only) reads as satisfied.
    fn payment_facts(
        &self,
        payment: &NewPayment,
        reservation: Option<&Reservation>,
        now: Timestamp,
        guards: Guards,
    ) -> PaymentFacts {
        PaymentFacts {
            found: reservation.is_some(),
            token_admits: !guards.on(Guard::TokenActive)
                || reservation.is_some_and(|r| {
                    payment.queue_token.is_some_and(|token| {
                        self.token_admits(token, payment.user_id, r.concert_id, now)
                    })
                }),
            token_sent: payment.queue_token.is_some(),
            offer: reservation.is_some_and(|r| self.is_live_offer(r)),
            payable: !guards.on(Guard::Payable)
                || reservation.is_some_and(|r| r.status == ReservationStatus::Held),
        }
    }

    /// A payment: a replay answers from its key's record; otherwise its facts are judged by
    /// [`PaymentFacts::verdict`] before any money moves.
    fn pay(
        &mut self,
        payment: &NewPayment,
        now: Timestamp,
        guards: Guards,
    ) -> Result<PaymentReceipt, PayError> {
        if let Some(answer) = self
            .decision(payment.user_id, &payment.idempotency)
            .payment_answer()
        {
            return answer;
        }
        if self.transaction_ids.contains(&payment.transaction_id)
            || self.payments.contains_key(&payment.payment_id)
        {
            return Err(
                StoreError::Internal("payment or transaction id already used".into()).into(),
            );
        }
        let reservation = self.users_reservation(payment.user_id, payment.reservation_id, now);
        let verdict = self
            .payment_facts(payment, reservation.as_ref(), now, guards)
            .verdict();
        match (verdict, reservation) {
            (PaymentVerdict::Debit, Some(reservation)) => {
                self.debit(payment, reservation, now, guards)
            }
            (PaymentVerdict::Refuse(error), _) => Err(error),
            (PaymentVerdict::Reject(rejection), _) => Err(self.reject_payment(payment, rejection)),
            // The verdict never debits a reservation that was not found.
            (PaymentVerdict::Debit, None) => Err(PayError::ReservationNotFound),
        }
    }

    /// Pays `reservation` from the payer's wallet (or stores the insufficient balance), confirms
    /// it and spends the payer's token.
    fn debit(
        &mut self,
        payment: &NewPayment,
        reservation: Reservation,
        now: Timestamp,
        guards: Guards,
    ) -> Result<PaymentReceipt, PayError> {
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
        // A paid offer fulfils its entry in the same critical section.
        self.fulfil_offer(reservation.id);
        if let Some(token) = payment.queue_token {
            self.expire_token(token);
        }
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

    async fn refund(
        &self,
        refund: NewRefund,
        policy: RefundPolicy,
    ) -> Result<RefundReceipt, RefundError> {
        let (mut state, now) = self.state_at_now();
        state.refund(&refund, policy, now, self.guards())
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
