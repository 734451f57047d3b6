//! Waiting-list entries (v1.1).

use crate::dto::page::encode_cursor;
use chrono::{DateTime, Utc};
use domain::{Page, WaitlistEntry, WaitlistOffer};
use paperclip::actix::Apiv2Schema;
use serde::Serialize;

/// The seat held for an entry while it is OFFERED.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct WaitlistOfferDto {
    /// The HELD reservation of the seat (pay it like any reservation; no Queue-Token needed).
    pub reservation_id: uuid::Uuid,
    /// The seat.
    pub seat_id: i64,
    /// When the offer lapses.
    pub held_until: DateTime<Utc>,
}

impl From<&WaitlistOffer> for WaitlistOfferDto {
    fn from(o: &WaitlistOffer) -> Self {
        Self {
            reservation_id: o.reservation_id.get(),
            seat_id: o.seat_id.get(),
            held_until: o.held_until,
        }
    }
}

/// A waiting-list entry as its user sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct WaitlistEntryDto {
    /// Its id.
    pub entry_id: uuid::Uuid,
    /// The date waited for.
    pub schedule_id: i64,
    /// `WAITING` | `OFFERED` | `FULFILLED` | `EXPIRED` | `LEFT`.
    pub status: &'static str,
    /// 1-based place among the date's WAITING entries; null unless WAITING.
    pub position: Option<u32>,
    /// The seat held for the entry; null unless OFFERED.
    pub offer: Option<WaitlistOfferDto>,
}

impl From<&WaitlistEntry> for WaitlistEntryDto {
    fn from(e: &WaitlistEntry) -> Self {
        Self {
            entry_id: e.id.get(),
            schedule_id: e.schedule_id.get(),
            status: e.status.as_str(),
            position: e.position,
            offer: e.offer.as_ref().map(WaitlistOfferDto::from),
        }
    }
}

/// One page of the caller's entries, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct WaitlistPageDto {
    /// The entries.
    pub items: Vec<WaitlistEntryDto>,
    /// The cursor of the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl From<&Page<WaitlistEntry>> for WaitlistPageDto {
    fn from(p: &Page<WaitlistEntry>) -> Self {
        Self {
            items: p.items.iter().map(WaitlistEntryDto::from).collect(),
            next_cursor: p.next_cursor.as_ref().map(encode_cursor),
        }
    }
}
