//! Wallet use cases: balance, idempotent charge, ledger.

use crate::{Idempotent, Services};
use domain::ports::NewCharge;
use domain::{
    ChargeAmount, ChargeError, ChargeReceipt, ChargeRejection, IdempotencyContext,
    IdempotencyDecision, LedgerEntry, Page, PageRequest, StoreError, StoredOutcome, TransactionId,
    UserId, Wallet,
};
use tracing::instrument;

impl Services {
    /// The user's wallet (0 for a user never seen).
    ///
    /// # Errors
    /// Store failures only.
    #[instrument(skip(self), fields(user_id = %user))]
    pub async fn wallet(&self, user: UserId) -> Result<Wallet, StoreError> {
        self.ports.wallets.wallet(user).await
    }

    /// Adds `amount_won` to the wallet under an idempotency key. The stored record is consulted
    /// first, so a replay answers before the amount is even validated; a request rejected by
    /// validation stores nothing.
    ///
    /// # Errors
    /// `IdempotencyKeyReused` / `IdempotencyKeyInUse` from the record; `InvalidAmount`;
    /// `BalanceLimitExceeded` (also when replaying a stored rejection).
    #[instrument(skip(self, idempotency), fields(user_id = %user, key = idempotency.key.as_str()))]
    pub async fn charge(
        &self,
        user: UserId,
        idempotency: IdempotencyContext,
        amount_won: i64,
    ) -> Result<Idempotent<ChargeReceipt>, ChargeError> {
        match self.idempotency_decision(user, &idempotency).await? {
            IdempotencyDecision::Proceed => {}
            IdempotencyDecision::Replay(outcome) => return replay_charge(outcome),
            IdempotencyDecision::InUse => return Err(ChargeError::IdempotencyKeyInUse),
            IdempotencyDecision::Reused => return Err(ChargeError::IdempotencyKeyReused),
        }
        let amount = ChargeAmount::new(amount_won, self.settings.wallet.charge_max())?;
        let transaction_id = TransactionId::from_uuid(self.ports.ids.next_uuid());
        let charge = NewCharge {
            user_id: user,
            transaction_id,
            amount,
            idempotency,
        };
        let receipt = self
            .ports
            .wallets
            .charge(charge, self.settings.wallet)
            .await?;
        // A twin under the same key may have run first (this request waited for it, or found
        // its record inside the store): the receipt is then the twin's, a replay.
        let replayed = receipt.transaction_id != transaction_id;
        Ok(Idempotent {
            value: receipt,
            replayed,
        })
    }

    /// The user's ledger, newest first.
    ///
    /// # Errors
    /// Store failures only.
    #[instrument(skip(self, page), fields(user_id = %user))]
    pub async fn ledger(
        &self,
        user: UserId,
        page: PageRequest,
    ) -> Result<Page<LedgerEntry>, StoreError> {
        self.ports.wallets.ledger(user, page).await
    }
}

/// Turns a stored outcome back into the charge's answer. An outcome of another operation under
/// the same key cannot have the same fingerprint, so it is a reuse.
fn replay_charge(outcome: StoredOutcome) -> Result<Idempotent<ChargeReceipt>, ChargeError> {
    match outcome {
        StoredOutcome::Charged(receipt) => Ok(Idempotent {
            value: receipt,
            replayed: true,
        }),
        StoredOutcome::ChargeRejected(ChargeRejection::BalanceLimitExceeded) => {
            Err(ChargeError::BalanceLimitExceeded)
        }
        StoredOutcome::Paid(_)
        | StoredOutcome::PaymentRejected(_)
        | StoredOutcome::Refunded(_)
        | StoredOutcome::RefundRejected(_) => Err(ChargeError::IdempotencyKeyReused),
    }
}
