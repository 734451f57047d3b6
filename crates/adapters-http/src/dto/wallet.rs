//! Wallets, charges and the ledger.

use crate::dto::page::encode_cursor;
use chrono::{DateTime, Utc};
use domain::{ChargeReceipt, LedgerEntry, Page, Wallet};
use paperclip::actix::Apiv2Schema;
use serde::{Deserialize, Serialize};

/// A wallet's balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct WalletDto {
    /// The owner.
    pub user_id: i64,
    /// The balance in KRW.
    pub balance: i64,
}

impl From<&Wallet> for WalletDto {
    fn from(w: &Wallet) -> Self {
        Self {
            user_id: w.user_id.get(),
            balance: w.balance.won(),
        }
    }
}

/// A request to add money to the caller's wallet.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChargeRequest {
    /// KRW to add: 1 to the per-charge maximum. Passed on raw: the use case checks the range
    /// after the idempotency record, so a replay answers even if limits changed.
    pub amount: i64,
}

/// A completed charge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct ChargeReceiptDto {
    /// The ledger entry written.
    pub transaction_id: uuid::Uuid,
    /// The amount added in KRW.
    pub amount: i64,
    /// The balance afterwards.
    pub balance: i64,
}

impl From<&ChargeReceipt> for ChargeReceiptDto {
    fn from(c: &ChargeReceipt) -> Self {
        Self {
            transaction_id: c.transaction_id.get(),
            amount: c.amount.won(),
            balance: c.balance.won(),
        }
    }
}

/// One ledger line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct LedgerEntryDto {
    /// Its id.
    pub id: uuid::Uuid,
    /// `CHARGE` | `PAYMENT` | `REFUND`.
    pub kind: &'static str,
    /// Signed KRW: payments are negative.
    pub amount: i64,
    /// The balance right after this entry.
    pub balance_after: i64,
    /// The payment id of a payment, the idempotency key of a charge.
    pub reference: Option<String>,
    /// When it was written.
    pub created_at: DateTime<Utc>,
}

impl From<&LedgerEntry> for LedgerEntryDto {
    fn from(e: &LedgerEntry) -> Self {
        Self {
            id: e.id.get(),
            kind: e.kind.as_str(),
            amount: e.amount,
            balance_after: e.balance_after.won(),
            reference: e.reference.clone(),
            created_at: e.created_at,
        }
    }
}

/// One page of the caller's ledger, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct LedgerPageDto {
    /// The entries.
    pub items: Vec<LedgerEntryDto>,
    /// The cursor of the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl From<&Page<LedgerEntry>> for LedgerPageDto {
    fn from(p: &Page<LedgerEntry>) -> Self {
        Self {
            items: p.items.iter().map(LedgerEntryDto::from).collect(),
            next_cursor: p.next_cursor.as_ref().map(encode_cursor),
        }
    }
}
