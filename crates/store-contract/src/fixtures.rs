//! Small builders shared by the contract cases.

use crate::StoreUnderTest;
use chrono::{TimeDelta, Utc};
use domain::ports::{NewCharge, NewHold, NewPayment, WalletStore};
use domain::{
    ChargeAmount, ConcertId, ConcertTitle, HoldPolicy, IdempotencyContext, IdempotencyKey,
    LedgerEntry, Money, NewConcert, NewSchedule, NewSeat, PageRequest, PaymentId, QueuePolicy,
    QueueTokenId, QueueTokenStatus, RequestFingerprint, Reservation, ReservationId, ScheduleSeats,
    SeatGrade, SeatId, SeatNumber, SeatSelection, TransactionId, UserId, Venue, WalletPolicy,
};
use std::time::Duration;
use uuid::Uuid;

/// A user id.
#[must_use]
pub fn user(n: i64) -> UserId {
    UserId::new(n).expect("positive user id")
}

/// A fresh queue token id.
#[must_use]
pub fn token_id() -> QueueTokenId {
    QueueTokenId::from_uuid(Uuid::now_v7())
}

/// A fresh reservation id.
#[must_use]
pub fn reservation_id() -> ReservationId {
    ReservationId::from_uuid(Uuid::now_v7())
}

/// Queue settings: batch, active cap, active window and idle timeout.
#[must_use]
pub fn queue_policy(
    admit_batch: u32,
    max_active: u32,
    active_ttl: Duration,
    idle_timeout: Duration,
) -> QueuePolicy {
    QueuePolicy::new(admit_batch, max_active, TICK, active_ttl, idle_timeout)
        .expect("valid queue policy")
}

/// The admit interval of the cases' policies: admission slots of a millisecond, so that a
/// [`tick`] (which lets one interval pass first) always runs in a new slot.
pub const TICK: Duration = Duration::from_millis(1);

/// One admission tick in a slot of its own: lets `policy`'s admit interval pass, then admits
/// (a store admits at most the batch per slot, however many ticks run in it).
pub async fn tick(s: &StoreUnderTest, policy: QueuePolicy) -> Vec<domain::AdmissionReport> {
    s.wait(policy.admit_interval()).await;
    s.queue.admit(policy).await.expect("admit")
}

/// Generous queue settings: batch 100, cap 1000, 10 minute windows.
#[must_use]
pub fn roomy_queue() -> QueuePolicy {
    queue_policy(
        100,
        1000,
        Duration::from_secs(600),
        Duration::from_secs(600),
    )
}

/// Hold settings: TTL, seats per hold, seats per user.
#[must_use]
pub fn hold_policy(ttl: Duration, per_hold: u32, per_user: u32) -> HoldPolicy {
    HoldPolicy::new(ttl, per_hold, per_user).expect("valid hold policy")
}

/// Holds of 5 minutes, 4 seats each, 4 per user.
#[must_use]
pub fn default_holds() -> HoldPolicy {
    hold_policy(Duration::from_secs(300), 4, 4)
}

/// Wallet limits in won.
#[must_use]
pub fn wallet_policy(charge_max: i64, balance_max: i64) -> WalletPolicy {
    WalletPolicy::new(won(charge_max), won(balance_max)).expect("valid wallet policy")
}

/// Money.
#[must_use]
pub fn won(n: i64) -> Money {
    Money::new(n).expect("non-negative money")
}

/// A concert named `title`.
pub async fn concert(s: &StoreUnderTest, title: &str) -> ConcertId {
    s.catalogue
        .create_concert(NewConcert {
            title: ConcertTitle::new(title).expect("title"),
            venue: Venue::new("Contract Hall").expect("venue"),
            sale: domain::SaleWindow::ALWAYS_OPEN,
        })
        .await
        .expect("create concert")
        .id
}

/// `n` seats `S-1`… of grade R at `price` won.
#[must_use]
pub fn seats(n: usize, price: i64) -> Vec<NewSeat> {
    (1..=n)
        .map(|i| NewSeat {
            number: SeatNumber::new(format!("S-{i}")).expect("seat number"),
            grade: SeatGrade::new("R").expect("grade"),
            price: won(price),
        })
        .collect()
}

/// A schedule starting `starts_in` from now (negative: already started).
pub async fn schedule_at(
    s: &StoreUnderTest,
    concert_id: ConcertId,
    starts_in: TimeDelta,
    new_seats: Vec<NewSeat>,
) -> ScheduleSeats {
    let schedule = NewSchedule::new(Utc::now() + starts_in, new_seats).expect("valid schedule");
    s.catalogue
        .create_schedule(concert_id, schedule)
        .await
        .expect("create schedule")
}

/// A schedule a week ahead with `n` seats at `price` won.
pub async fn schedule(
    s: &StoreUnderTest,
    concert_id: ConcertId,
    n: usize,
    price: i64,
) -> ScheduleSeats {
    schedule_at(s, concert_id, TimeDelta::days(7), seats(n, price)).await
}

/// The ids of a schedule's seats.
#[must_use]
pub fn seat_ids(schedule: &ScheduleSeats) -> Vec<SeatId> {
    schedule.seats.iter().map(|s| s.id).collect()
}

/// A seat selection.
#[must_use]
pub fn selection(seats: &[SeatId]) -> SeatSelection {
    SeatSelection::new(seats.to_vec(), 100).expect("valid selection")
}

/// A hold request under `queue_token`.
#[must_use]
pub fn new_hold(
    user_id: UserId,
    queue_token: QueueTokenId,
    schedule: &ScheduleSeats,
    seats: &[SeatId],
) -> NewHold {
    NewHold {
        reservation_id: reservation_id(),
        user_id,
        schedule_id: schedule.schedule_id,
        seats: selection(seats),
        queue_token,
    }
}

/// A hold request by `user_id` with an ACTIVE token for the schedule's concert (their live one,
/// admitted if it was waiting, or a new one).
pub async fn admitted_hold(
    s: &StoreUnderTest,
    user_id: UserId,
    schedule: &ScheduleSeats,
    seats: &[SeatId],
) -> NewHold {
    let token = active_token(s, user_id, schedule.concert_id, roomy_queue()).await;
    new_hold(user_id, token, schedule, seats)
}

/// Holds seats (with an ACTIVE token, as [`admitted_hold`]) and expects success.
pub async fn hold_ok(
    s: &StoreUnderTest,
    user_id: UserId,
    schedule: &ScheduleSeats,
    seats: &[SeatId],
    policy: HoldPolicy,
) -> Reservation {
    let hold = admitted_hold(s, user_id, schedule, seats).await;
    s.reservations.hold(hold, policy).await.expect("hold")
}

/// A key and a fingerprint.
#[must_use]
pub fn idem(key: &str, fingerprint: &str) -> IdempotencyContext {
    IdempotencyContext {
        key: IdempotencyKey::new(key).expect("key"),
        fingerprint: RequestFingerprint::new(fingerprint),
    }
}

/// A charge request under `key` (fingerprint derived from the amount).
#[must_use]
pub fn new_charge(user_id: UserId, amount: i64, key: &str) -> NewCharge {
    NewCharge {
        user_id,
        transaction_id: TransactionId::from_uuid(Uuid::now_v7()),
        amount: ChargeAmount::new(amount, won(i64::MAX)).expect("valid amount"),
        idempotency: idem(key, &format!("charge:{amount}")),
    }
}

/// Charges and expects success.
pub async fn charge_ok(s: &StoreUnderTest, user_id: UserId, amount: i64, key: &str) {
    s.wallets
        .charge(
            new_charge(user_id, amount, key),
            wallet_policy(1_000_000_000, 1_000_000_000_000),
        )
        .await
        .expect("charge");
}

/// A payment request under `key` (fingerprint derived from the reservation).
#[must_use]
pub fn new_payment(
    user_id: UserId,
    reservation_id: ReservationId,
    queue_token: QueueTokenId,
    key: &str,
) -> NewPayment {
    NewPayment {
        user_id,
        reservation_id,
        queue_token: Some(queue_token),
        payment_id: PaymentId::from_uuid(Uuid::now_v7()),
        transaction_id: TransactionId::from_uuid(Uuid::now_v7()),
        idempotency: idem(key, &format!("pay:{reservation_id}")),
    }
}

/// Joins the queue and runs admission ticks until the token is ACTIVE.
pub async fn active_token(
    s: &StoreUnderTest,
    user_id: UserId,
    concert_id: ConcertId,
    policy: QueuePolicy,
) -> QueueTokenId {
    let joined = s
        .queue
        .join(user_id, concert_id, token_id(), policy)
        .await
        .expect("join");
    let id = joined.standing.token.id;
    for _ in 0..20 {
        let token = s
            .queue
            .token(id, policy)
            .await
            .expect("token")
            .expect("known");
        if token.status == QueueTokenStatus::Active {
            return id;
        }
        tick(s, policy).await;
    }
    panic!("token {id} was never admitted");
}

/// The status of a token, which must exist.
pub async fn token_status(
    s: &StoreUnderTest,
    id: QueueTokenId,
    policy: QueuePolicy,
) -> QueueTokenStatus {
    s.queue
        .token(id, policy)
        .await
        .expect("token")
        .expect("known token")
        .status
}

/// How many tokens one tick admitted for `concert_id` (0 when it reports nothing for it).
#[must_use]
pub fn admitted_for(reports: &[domain::AdmissionReport], concert_id: ConcertId) -> u64 {
    reports
        .iter()
        .filter(|r| r.concert_id == concert_id)
        .map(|r| r.admitted)
        .sum()
}

/// A user's whole ledger, newest first, read page by page (`limit` entries a page).
pub async fn ledger_in_pages(wallets: &dyn WalletStore, u: UserId, limit: u32) -> Vec<LedgerEntry> {
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let page = wallets
            .ledger(u, PageRequest::new(Some(limit), cursor).expect("page"))
            .await
            .expect("ledger");
        all.extend(page.items);
        cursor = page.next_cursor;
        if cursor.is_none() {
            return all;
        }
    }
}

/// Asserts that a ledger (newest first) reads like a bank statement: oldest to newest, every
/// `balance_after` is the running sum of the amounts. Returns the last running sum, which a
/// caller compares with the wallet's balance.
pub fn statement_balance(u: UserId, ledger: &[LedgerEntry]) -> i64 {
    let mut running = 0;
    for entry in ledger.iter().rev() {
        running += entry.amount;
        assert_eq!(
            entry.balance_after.won(),
            running,
            "{u}: balance_after is the running sum ({entry:?})"
        );
    }
    running
}
