//! Ports: what the application needs from the outside world. Each state-changing method is one
//! atomic step (one transaction in PostgreSQL, one critical section in memory), so invariants
//! hold at every instant. Time-based rules (expiry) are decided by the store's own clock, so
//! several instances sharing one database agree.

use crate::{
    AdminQueueError, AdmissionReport, BrowseError, CancelError, ChargeAmount, ChargeError,
    ChargeReceipt, Concert, ConcertId, CreateScheduleError, DrawReport, HoldPolicy, HoldSeatsError,
    IdempotencyContext, IdempotencyKey, IdempotencyRecord, JoinQueueError, LedgerEntry, NewConcert,
    NewSchedule, Page, PageRequest, PayError, PaymentId, PaymentReceipt, QueuePolicy,
    QueueSettingsPatch, QueueStanding, QueueStats, QueueToken, QueueTokenError, QueueTokenId,
    RefundError, RefundId, RefundPolicy, RefundReceipt, Reservation, ReservationId, SalePatch,
    ScheduleId, ScheduleSeats, ScheduleSummary, SeatSelection, StoreError, Timestamp,
    TransactionId, UpdateSaleError, UserId, Wallet, WalletPolicy,
};
use crate::{
    JoinWaitlistError, WaitlistCounts, WaitlistEntry, WaitlistEntryError, WaitlistEntryId,
    WaitlistJoined, WaitlistPolicy,
};
use async_trait::async_trait;
use std::time::Duration;
use uuid::Uuid;

/// The current time. Use cases and the in-memory store read it here so tests can move it.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait Clock: Send + Sync {
    /// Now, in UTC.
    fn now(&self) -> Timestamp;
}

/// Fresh unique ids (UUID v7 in production: time-ordered, so indexes stay compact).
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait IdGenerator: Send + Sync {
    /// A new, never-used UUID.
    fn next_uuid(&self) -> Uuid;
}

/// Concerts, schedules and seats.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait CatalogueStore: Send + Sync {
    /// Every concert, by id.
    ///
    /// # Errors
    /// [`StoreError`] only.
    async fn list_concerts(&self) -> Result<Vec<Concert>, StoreError>;

    /// Adds a concert with the default queue settings.
    ///
    /// # Errors
    /// [`StoreError`] only.
    async fn create_concert(&self, concert: NewConcert) -> Result<Concert, StoreError>;

    /// Changes a concert's sale window ([`crate::patch_sale`] decides, under the concert's
    /// queue lock, so it cannot cross a join or the draw); returns the concert.
    ///
    /// # Errors
    /// [`UpdateSaleError::ConcertNotFound`] for an unknown concert, `Refused` when
    /// [`crate::patch_sale`] refuses.
    async fn update_sale(
        &self,
        concert_id: ConcertId,
        patch: SalePatch,
    ) -> Result<Concert, UpdateSaleError>;

    /// Adds a schedule and all its seats at once.
    ///
    /// # Errors
    /// [`CreateScheduleError::ConcertNotFound`] for an unknown concert.
    async fn create_schedule(
        &self,
        concert_id: ConcertId,
        schedule: NewSchedule,
    ) -> Result<ScheduleSeats, CreateScheduleError>;

    /// The concert's schedules that have not started yet, by start time, with seat counts.
    ///
    /// # Errors
    /// [`BrowseError::NotFound`] for an unknown concert.
    async fn future_schedules(
        &self,
        concert_id: ConcertId,
    ) -> Result<Vec<ScheduleSummary>, BrowseError>;

    /// A schedule's seats with their availability now.
    ///
    /// # Errors
    /// [`BrowseError::NotFound`] for an unknown schedule.
    async fn schedule_seats(&self, schedule_id: ScheduleId) -> Result<ScheduleSeats, BrowseError>;

    /// The concert a schedule belongs to, or `None` for an unknown schedule.
    ///
    /// # Errors
    /// [`StoreError`] only.
    async fn schedule_concert(
        &self,
        schedule_id: ScheduleId,
    ) -> Result<Option<ConcertId>, StoreError>;
}

/// A new place in line, as the store returns it from a join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    /// The live token (new or existing) and its place.
    pub standing: QueueStanding,
    /// True when a new token was issued, false when the user's live token was returned.
    pub created: bool,
}

/// The waiting queue.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait QueueStore: Send + Sync {
    /// Issues `token_id` to the user for the concert unless the user already has a live
    /// (PRE_QUEUE, WAITING or ACTIVE, by the store's clock) token there, in which case that one
    /// is returned. A new token goes where [`crate::join_phase`] says: to the pre-queue before
    /// the concert's draw, else to the back of the line.
    ///
    /// # Errors
    /// [`JoinQueueError::ConcertNotFound`] for an unknown concert, `SaleClosed` for a new token
    /// after the sale closed.
    async fn join(
        &self,
        user_id: UserId,
        concert_id: ConcertId,
        token_id: QueueTokenId,
        policy: QueuePolicy,
    ) -> Result<Joined, JoinQueueError>;

    /// The holder's view of a token; for a WAITING token this also records the poll, which
    /// keeps the place alive for another idle timeout.
    ///
    /// # Errors
    /// [`QueueTokenError::Access`] with `TokenRequired` for an unknown token, `NotActive` for
    /// another user's.
    async fn poll(
        &self,
        token_id: QueueTokenId,
        user_id: UserId,
        policy: QueuePolicy,
    ) -> Result<QueueStanding, QueueTokenError>;

    /// A token with its effective status, for authorising a request; `None` when unknown.
    ///
    /// # Errors
    /// [`StoreError`] only.
    async fn token(
        &self,
        token_id: QueueTokenId,
        policy: QueuePolicy,
    ) -> Result<Option<QueueToken>, StoreError>;

    /// Leaves the line or gives up the active slot (the token becomes EXPIRED). Leaving with an
    /// already expired token succeeds and changes nothing.
    ///
    /// # Errors
    /// [`QueueTokenError::Access`] with `TokenRequired` for an unknown token, `NotActive` for
    /// another user's.
    async fn leave(&self, token_id: QueueTokenId, user_id: UserId) -> Result<(), QueueTokenError>;

    /// The pre-queue draw of every concert whose draw is due ([`crate::draw_due`]): its live
    /// PRE_QUEUE tokens become WAITING in the order [`crate::draw_places`] gives for a seed from
    /// the store's [`crate::SeedSource`], in places 1..N ahead of any later join; idle ones are
    /// left out. Safe in several instances at once: a concert is drawn exactly once, and the
    /// draw is recorded (time, seed, count). Returns the draws this call made.
    ///
    /// # Errors
    /// [`StoreError`] only.
    async fn draw(&self, policy: QueuePolicy) -> Result<Vec<DrawReport>, StoreError>;

    /// One admission tick over every concert: first the due draws ([`QueueStore::draw`], also
    /// for a paused concert), then per concert, admits the earliest-issued WAITING
    /// tokens, at most the batch and never above the active cap, unless paused. Safe to run in
    /// several instances at once: a token is admitted once and the cap is never exceeded.
    ///
    /// # Errors
    /// [`StoreError`] only.
    async fn admit(&self, policy: QueuePolicy) -> Result<Vec<AdmissionReport>, StoreError>;

    /// Marks up to `batch` ACTIVE tokens whose window has closed as EXPIRED; returns how many.
    ///
    /// # Errors
    /// [`StoreError`] only.
    async fn expire_active(&self, batch: u32) -> Result<u64, StoreError>;

    /// Drops up to `batch` WAITING or PRE_QUEUE tokens not polled for `idle_timeout`; returns
    /// how many.
    ///
    /// # Errors
    /// [`StoreError`] only.
    async fn drop_idle(&self, idle_timeout: Duration, batch: u32) -> Result<u64, StoreError>;

    /// Counts and settings of one concert's queue.
    ///
    /// # Errors
    /// [`AdminQueueError::ConcertNotFound`] for an unknown concert.
    async fn stats(
        &self,
        concert_id: ConcertId,
        policy: QueuePolicy,
    ) -> Result<QueueStats, AdminQueueError>;

    /// Changes a concert's admission settings (effective at the next tick); returns the new stats.
    ///
    /// # Errors
    /// [`AdminQueueError::ConcertNotFound`] for an unknown concert.
    async fn update_settings(
        &self,
        concert_id: ConcertId,
        patch: QueueSettingsPatch,
        policy: QueuePolicy,
    ) -> Result<QueueStats, AdminQueueError>;

    /// Waiting and active counts of every concert, for metrics.
    ///
    /// # Errors
    /// [`StoreError`] only.
    async fn all_stats(
        &self,
        policy: QueuePolicy,
    ) -> Result<Vec<(ConcertId, QueueStats)>, StoreError>;
}

/// Everything a hold needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewHold {
    /// The id to give the reservation.
    pub reservation_id: ReservationId,
    /// The holder.
    pub user_id: UserId,
    /// The schedule.
    pub schedule_id: ScheduleId,
    /// The seats, sorted.
    pub seats: SeatSelection,
    /// The holder's queue token, which must still be ACTIVE (and the holder's, for the
    /// schedule's concert) when the hold commits: the store checks it again inside the hold's
    /// own transaction, so a token that expired or was spent a moment earlier cannot hold.
    pub queue_token: QueueTokenId,
}

/// Seat holds and reservations.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait ReservationStore: Send + Sync {
    /// Holds all the seats for `policy.ttl()` or none. Locks seats in ascending id order, so
    /// opposite-order holds never deadlock.
    ///
    /// # Errors
    /// [`HoldSeatsError::ScheduleNotFound`] (unknown or started), `SeatNotFound` (a seat not in
    /// the schedule), `SeatUnavailable` (any seat sold or under an unexpired hold; lists them),
    /// `HoldLimitExceeded` (the user's unexpired held seats plus these exceed the per-user cap),
    /// `Access(NotActive)` (the queue token is not the holder's ACTIVE token for the schedule's
    /// concert at the moment of the hold).
    async fn hold(&self, hold: NewHold, policy: HoldPolicy) -> Result<Reservation, HoldSeatsError>;

    /// One of the user's reservations, with its effective status; `None` when it does not exist
    /// or belongs to someone else.
    ///
    /// # Errors
    /// [`StoreError`] only.
    async fn reservation(
        &self,
        user_id: UserId,
        id: ReservationId,
    ) -> Result<Option<Reservation>, StoreError>;

    /// The user's reservations, newest first.
    ///
    /// # Errors
    /// [`StoreError`] only.
    async fn reservations(
        &self,
        user_id: UserId,
        page: PageRequest,
    ) -> Result<Page<Reservation>, StoreError>;

    /// Cancels a HELD, unexpired reservation; its seats are free at once.
    ///
    /// # Errors
    /// [`CancelError::NotFound`] (unknown or someone else's), `NotCancellable` (any other status).
    async fn cancel(&self, user_id: UserId, id: ReservationId) -> Result<Reservation, CancelError>;

    /// Marks up to `batch` HELD reservations past `held_until` as EXPIRED; returns how many.
    /// Correctness never depends on this running: expired holds count as expired anyway.
    ///
    /// # Errors
    /// [`StoreError`] only.
    async fn expire_holds(&self, batch: u32) -> Result<u64, StoreError>;
}

/// Everything a charge needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCharge {
    /// The wallet's owner.
    pub user_id: UserId,
    /// The ledger entry's id.
    pub transaction_id: TransactionId,
    /// How much to add.
    pub amount: ChargeAmount,
    /// The key it runs under.
    pub idempotency: IdempotencyContext,
}

/// Everything a payment needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPayment {
    /// The payer.
    pub user_id: UserId,
    /// What is paid for.
    pub reservation_id: ReservationId,
    /// The payer's queue token, expired by the payment. `None` pays only a live waiting-list
    /// offer (which needs no token); any other reservation then answers `TokenRequired`.
    pub queue_token: Option<QueueTokenId>,
    /// The payment's id.
    pub payment_id: PaymentId,
    /// The ledger entry's id.
    pub transaction_id: TransactionId,
    /// The key it runs under.
    pub idempotency: IdempotencyContext,
}

/// Everything a refund needs (no queue token: a refund is not queue-guarded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRefund {
    /// The reservation's holder, who gets the money back.
    pub user_id: UserId,
    /// What is refunded.
    pub reservation_id: ReservationId,
    /// The refund's id.
    pub refund_id: RefundId,
    /// The ledger entry's id.
    pub transaction_id: TransactionId,
    /// The key it runs under.
    pub idempotency: IdempotencyContext,
}

/// Wallets, their ledger and payments. Money moves only here, only with conditional updates.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait WalletStore: Send + Sync {
    /// The user's wallet (balance 0 if never seen).
    ///
    /// # Errors
    /// [`StoreError`] only.
    async fn wallet(&self, user_id: UserId) -> Result<Wallet, StoreError>;

    /// Adds money and a CHARGE ledger entry, and records the outcome under the key, atomically.
    /// If the key already has an outcome for the same fingerprint, returns that outcome and
    /// changes nothing: a receipt that names another transaction id than `charge`'s is such a
    /// replay. A rejection is recorded too, so a replay answers the same.
    ///
    /// # Errors
    /// [`ChargeError::BalanceLimitExceeded`] (nothing changes), `IdempotencyKeyReused` (another
    /// fingerprint under the key), `IdempotencyKeyInUse` (the same key is mid-flight).
    async fn charge(
        &self,
        charge: NewCharge,
        policy: WalletPolicy,
    ) -> Result<ChargeReceipt, ChargeError>;

    /// Pays exactly the reservation's total price, atomically: debits the wallet (only if the
    /// balance covers it), confirms the reservation (only if HELD and unexpired by the store's
    /// clock), writes the payment and a PAYMENT ledger entry, expires the queue token, and
    /// records the outcome under the key. Replays like [`WalletStore::charge`] (a replayed
    /// receipt names another payment id than `payment`'s).
    ///
    /// # Errors
    /// [`PayError::ReservationNotFound`] (unknown or someone else's), `Access(NotActive)` (the
    /// token is no longer ACTIVE for this user and the reservation's concert), `NotPayable`,
    /// `InsufficientBalance` (nothing changes), `IdempotencyKeyReused`, `IdempotencyKeyInUse`.
    async fn pay(&self, payment: NewPayment) -> Result<PaymentReceipt, PayError>;

    /// Refunds one of the user's CONFIRMED reservations, atomically: the reservation becomes
    /// REFUNDED and its seats are free at once, the wallet is credited exactly the amount paid
    /// (even above the balance maximum), a refund and a REFUND ledger entry are written, and the
    /// outcome is recorded under the key. CONFIRMED and the window (`policy`'s cut-off before
    /// the schedule's start) are judged by the store's clock after the reservation's lock.
    /// Replays like [`WalletStore::charge`] (a replayed receipt names another refund id).
    ///
    /// # Errors
    /// [`RefundError::NotFound`] (unknown or someone else's; nothing stored), `NotRefundable`,
    /// `WindowClosed` (both stored under the key), `IdempotencyKeyReused`,
    /// `IdempotencyKeyInUse`.
    async fn refund(
        &self,
        refund: NewRefund,
        policy: RefundPolicy,
    ) -> Result<RefundReceipt, RefundError>;

    /// The user's ledger, newest first in the order the balance changed (each entry's
    /// `balance_after` is the running sum of the amounts up to it).
    ///
    /// # Errors
    /// [`StoreError`] only.
    async fn ledger(
        &self,
        user_id: UserId,
        page: PageRequest,
    ) -> Result<Page<LedgerEntry>, StoreError>;

    /// What is stored under a user's idempotency key, if anything (checked before any other
    /// check, so a replay is answered even after the queue token has expired).
    ///
    /// # Errors
    /// [`StoreError`] only.
    async fn idempotency_record(
        &self,
        user_id: UserId,
        key: IdempotencyKey,
    ) -> Result<Option<IdempotencyRecord>, StoreError>;
}

/// Waiting lists for sold-out dates (`waitlist.rs` in the domain has the rules).
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait WaitlistStore: Send + Sync {
    /// Puts the user at the back of the date's list as `entry_id` (WAITING), unless the user
    /// has a live (WAITING or OFFERED, effectively) entry for the date, which is returned. The
    /// queue token is checked by the caller.
    ///
    /// # Errors
    /// [`JoinWaitlistError::ScheduleNotFound`] (unknown or started), `SeatsAvailable` (the date
    /// has a seat the user could hold now: [`crate::JoinFacts::verdict`]).
    async fn join_waitlist(
        &self,
        user_id: UserId,
        schedule_id: ScheduleId,
        entry_id: WaitlistEntryId,
    ) -> Result<WaitlistJoined, JoinWaitlistError>;

    /// One of the user's entries with its effective status; `None` when unknown or another
    /// user's.
    ///
    /// # Errors
    /// [`StoreError`] only.
    async fn waitlist_entry(
        &self,
        user_id: UserId,
        entry_id: WaitlistEntryId,
    ) -> Result<Option<WaitlistEntry>, StoreError>;

    /// The user's entries, newest first.
    ///
    /// # Errors
    /// [`StoreError`] only.
    async fn waitlist_entries(
        &self,
        user_id: UserId,
        page: PageRequest,
    ) -> Result<Page<WaitlistEntry>, StoreError>;

    /// Leaves the list: a live entry becomes LEFT, its live offer (if any) is cancelled and the
    /// seat goes to the next WAITING entry, in the same atomic step. A final entry is left as it
    /// is (success).
    ///
    /// # Errors
    /// [`WaitlistEntryError::NotFound`] (unknown or another user's).
    async fn leave_waitlist(
        &self,
        user_id: UserId,
        entry_id: WaitlistEntryId,
        policy: WaitlistPolicy,
    ) -> Result<(), WaitlistEntryError>;

    /// An operator's counts of one date's entries by effective status (at the store's clock);
    /// `None` for an unknown date.
    ///
    /// # Errors
    /// [`StoreError`] only.
    async fn waitlist_counts(
        &self,
        schedule_id: ScheduleId,
    ) -> Result<Option<WaitlistCounts>, StoreError>;

    /// THE offer step: for one date (`Some`) or every date with WAITING entries (`None`),
    /// persists lapsed offers (EXPIRED) and cancelled ones (LEFT), then gives each free seat
    /// (not sold, not under an unexpired hold) to the earliest WAITING entry: a HELD reservation
    /// of that seat for the entry's user, for `policy.offer_ttl()`, exempt from the per-user
    /// hold cap. Safe in several instances at once (one date is offered by one transaction at a
    /// time); returns how many offers it made. Run by the scheduler every tick and after every
    /// change that frees a seat (cancel, leave; refunds).
    ///
    /// # Errors
    /// [`StoreError`] only.
    async fn offer_waitlist_seats(
        &self,
        schedule_id: Option<ScheduleId>,
        policy: WaitlistPolicy,
    ) -> Result<u64, StoreError>;
}

/// Liveness of the backing store, for `/health/ready`.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait StoreHealth: Send + Sync {
    /// Answers when the store can serve requests.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when it cannot.
    async fn ping(&self) -> Result<(), StoreError>;
}
