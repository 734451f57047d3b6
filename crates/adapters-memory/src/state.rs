//! The whole state of the store, which `MemoryStore` guards with one mutex.

use crate::line::QueueLine;
use crate::token::TokenRecord;
use domain::{
    Concert, ConcertId, IdempotencyKey, IdempotencyRecord, LedgerEntry, Money, PaymentId,
    PaymentReceipt, QueueTokenId, RefundId, RefundReceipt, Reservation, ReservationId, ScheduleId,
    SeatGrade, SeatId, SeatNumber, Timestamp, TransactionId, UserId, WaitlistEntryId,
    WaitlistStatus,
};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// A concert and its schedules.
#[derive(Debug, Clone)]
pub(crate) struct ConcertRecord {
    pub(crate) concert: Concert,
    pub(crate) schedules: Vec<ScheduleId>,
}

/// A schedule and its seats (ascending ids, in the operator's order).
#[derive(Debug, Clone)]
pub(crate) struct ScheduleRecord {
    pub(crate) concert_id: ConcertId,
    pub(crate) starts_at: Timestamp,
    pub(crate) seats: Vec<SeatId>,
}

/// A seat and the last reservation that took it. The seat is taken while that reservation is
/// CONFIRMED or HELD-and-unexpired; any other status frees it without touching the seat.
#[derive(Debug, Clone)]
pub(crate) struct SeatRecord {
    pub(crate) schedule_id: ScheduleId,
    pub(crate) number: SeatNumber,
    pub(crate) grade: SeatGrade,
    pub(crate) price: Money,
    pub(crate) claim: Option<ReservationId>,
}

/// A wallet and its append-only ledger, in the order the balance changed (like a bank
/// statement; the clock may not agree), with each entry's place for paging.
#[derive(Debug, Clone, Default)]
pub(crate) struct WalletRecord {
    pub(crate) balance: Money,
    pub(crate) ledger: Vec<LedgerEntry>,
    /// Where each entry of `ledger` is.
    pub(crate) places: HashMap<TransactionId, usize>,
}

/// Everything the store holds.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) last_concert_id: i64,
    pub(crate) last_schedule_id: i64,
    pub(crate) last_seat_id: i64,
    pub(crate) concerts: BTreeMap<ConcertId, ConcertRecord>,
    pub(crate) schedules: HashMap<ScheduleId, ScheduleRecord>,
    pub(crate) seats: HashMap<SeatId, SeatRecord>,

    /// One waiting line per concert.
    pub(crate) lines: HashMap<ConcertId, QueueLine>,
    pub(crate) tokens: HashMap<QueueTokenId, TokenRecord>,

    /// Reservations with their stored status (HELD may be past `held_until`).
    pub(crate) reservations: HashMap<ReservationId, Reservation>,
    /// Every reservation of a user, by `(created_at, id)`.
    pub(crate) user_reservations: HashMap<UserId, BTreeSet<(Timestamp, ReservationId)>>,
    /// The stored-HELD reservations of a user.
    pub(crate) user_held: HashMap<UserId, BTreeSet<ReservationId>>,
    /// Every stored-HELD reservation by `(held_until, id)`, for the expiry sweep.
    pub(crate) held_deadlines: BTreeSet<(Timestamp, ReservationId)>,

    pub(crate) wallets: HashMap<UserId, WalletRecord>,
    pub(crate) idempotency: HashMap<(UserId, IdempotencyKey), IdempotencyRecord>,
    pub(crate) payments: HashMap<PaymentId, PaymentReceipt>,
    /// Every refund (at most one per reservation while the `Refundable` guard is on).
    pub(crate) refunds: HashMap<RefundId, RefundReceipt>,
    /// Every ledger entry id ever written (ids are never reused).
    pub(crate) transaction_ids: HashSet<TransactionId>,

    /// Waiting lists (`waitlist.rs`).
    pub(crate) waitlists: Waitlists,
}

/// One waiting-list entry as stored (an OFFERED one may have lapsed: see
/// `domain::effective_entry_status`).
#[derive(Debug, Clone)]
pub(crate) struct EntryRecord {
    pub(crate) user_id: UserId,
    pub(crate) schedule_id: ScheduleId,
    /// Place in the store's join order (the list's order).
    pub(crate) seq: u64,
    pub(crate) status: WaitlistStatus,
    /// The offer reservation and its seat, once offered (kept when the entry is final).
    pub(crate) offer: Option<(ReservationId, SeatId)>,
    pub(crate) created_at: Timestamp,
}

/// Every waiting list, with the indexes the rules read.
#[derive(Debug, Default)]
pub(crate) struct Waitlists {
    pub(crate) last_seq: u64,
    pub(crate) entries: HashMap<WaitlistEntryId, EntryRecord>,
    /// Every entry of a user, by `(created_at, id)`.
    pub(crate) by_user: HashMap<UserId, BTreeSet<(Timestamp, WaitlistEntryId)>>,
    /// The WAITING entries of a date, in list order.
    pub(crate) waiting: HashMap<ScheduleId, BTreeMap<u64, WaitlistEntryId>>,
    /// The stored-OFFERED entries of a date.
    pub(crate) offered: HashMap<ScheduleId, BTreeSet<WaitlistEntryId>>,
    /// The entry of each offer reservation.
    pub(crate) by_offer: HashMap<ReservationId, WaitlistEntryId>,
}
