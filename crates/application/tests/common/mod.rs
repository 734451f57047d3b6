//! Shared arrangement for the use-case tests: `Services` over mockall mocks.

#![allow(dead_code, missing_docs)]

use application::{JoinRateLimit, JoinRateLimiter, Ports, Services, Settings};
use domain::ports::{
    MockCatalogueStore, MockClock, MockIdGenerator, MockQueueStore, MockReservationStore,
    MockStoreHealth, MockWalletStore,
};
use domain::*;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Every mock, to arrange expectations on before building the services.
#[derive(Default)]
pub struct Mocks {
    pub catalogue: MockCatalogueStore,
    pub queue: MockQueueStore,
    pub reservations: MockReservationStore,
    pub wallets: MockWalletStore,
    pub waitlist: domain::ports::MockWaitlistStore,
    pub join_limit: Option<JoinRateLimit>,
}

pub fn now() -> Timestamp {
    chrono::DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
        .expect("valid time")
        .with_timezone(&chrono::Utc)
}

pub fn settings() -> Settings {
    let s = Duration::from_secs;
    Settings {
        queue: QueuePolicy::new(10, 100, Duration::from_millis(1000), s(600), s(300))
            .expect("valid"),
        hold: HoldPolicy::new(
            s(300),
            domain::DEFAULT_MAX_SEATS_PER_RESERVATION,
            domain::DEFAULT_MAX_SEATS_HELD_PER_USER,
        )
        .expect("valid"),
        wallet: WalletPolicy::new(domain::DEFAULT_CHARGE_MAX, domain::DEFAULT_BALANCE_MAX)
            .expect("valid"),
        refund: domain::RefundPolicy::default(),
    }
}

impl Mocks {
    pub fn build(self) -> Services {
        let mut clock = MockClock::new();
        clock.expect_now().returning(now);
        let mut ids = MockIdGenerator::new();
        let counter = std::sync::atomic::AtomicU64::new(1);
        ids.expect_next_uuid().returning(move || {
            Uuid::from_u128(u128::from(
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
            ))
        });
        let ports = Ports {
            catalogue: Arc::new(self.catalogue),
            queue: Arc::new(self.queue),
            reservations: Arc::new(self.reservations),
            wallets: Arc::new(self.wallets),
            waitlist: Arc::new(self.waitlist),
            health: Arc::new(MockStoreHealth::new()),
            clock: Arc::new(clock),
            ids: Arc::new(ids),
        };
        let limit = self.join_limit.unwrap_or(JoinRateLimit {
            max_joins: 0,
            window_secs: 60,
        });
        Services::new(ports, settings(), JoinRateLimiter::new(limit))
    }
}

pub fn money(won: i64) -> Money {
    Money::new(won).expect("non-negative")
}
pub fn user(n: i64) -> UserId {
    UserId::new(n).expect("positive")
}
pub fn concert(n: i64) -> ConcertId {
    ConcertId::new(n).expect("positive")
}
pub fn schedule(n: i64) -> ScheduleId {
    ScheduleId::new(n).expect("positive")
}
pub fn seat(n: i64) -> SeatId {
    SeatId::new(n).expect("positive")
}
pub fn token_id(n: u128) -> QueueTokenId {
    QueueTokenId::from_uuid(Uuid::from_u128(n))
}
pub fn reservation_id(n: u128) -> ReservationId {
    ReservationId::from_uuid(Uuid::from_u128(n))
}

pub fn token(
    id: QueueTokenId,
    owner: UserId,
    concert_id: ConcertId,
    status: QueueTokenStatus,
) -> QueueToken {
    QueueToken {
        id,
        user_id: owner,
        concert_id,
        seq: 1,
        status,
        issued_at: now(),
        active_until: (status == QueueTokenStatus::Active)
            .then(|| now() + chrono::Duration::minutes(10)),
    }
}

pub fn reservation(id: ReservationId, owner: UserId, concert_id: ConcertId) -> Reservation {
    Reservation {
        id,
        user_id: owner,
        schedule_id: schedule(1),
        concert_id,
        seats: vec![],
        total_price: money(50_000),
        status: ReservationStatus::Held,
        held_until: now() + chrono::Duration::minutes(5),
        created_at: now(),
    }
}

pub fn idem(key: &str, fingerprint: &str) -> IdempotencyContext {
    IdempotencyContext {
        key: IdempotencyKey::new(key).expect("valid key"),
        fingerprint: RequestFingerprint::new(fingerprint),
    }
}

/// Makes the queue store answer `token()` with the given token for any id.
pub fn queue_knows(queue: &mut MockQueueStore, found: Option<QueueToken>) {
    queue
        .expect_token()
        .returning(move |_, _| Ok(found.clone()));
}

/// A payment that gets as far as the gate: nothing stored under the key, and reservation 1 is
/// the payer's, for concert 1.
pub fn arrange_fresh_payment(mocks: &mut Mocks) {
    mocks
        .wallets
        .expect_idempotency_record()
        .returning(|_, _| Ok(None));
    mocks
        .reservations
        .expect_reservation()
        .returning(|u, id| Ok(Some(reservation(id, u, concert(1)))));
}

/// The caller's queue token (token 1 of user 1) is for `concert_id` with `status`.
pub fn caller_token(mocks: &mut Mocks, concert_id: ConcertId, status: QueueTokenStatus) {
    queue_knows(
        &mut mocks.queue,
        Some(token(token_id(1), user(1), concert_id, status)),
    );
}

/// Schedule 1 belongs to concert 1, and the caller's token for it has `status`.
pub fn arrange_hold_gate(mocks: &mut Mocks, status: QueueTokenStatus) {
    mocks
        .catalogue
        .expect_schedule_concert()
        .returning(|_| Ok(Some(concert(1))));
    caller_token(mocks, concert(1), status);
}

/// User 1 pays reservation 1 with token 1 under key `k1`.
pub async fn pay_reservation_one(
    services: &Services,
) -> Result<application::Idempotent<PaymentReceipt>, PayError> {
    services
        .pay(
            user(1),
            Some(token_id(1)),
            idem("k1", "fp"),
            reservation_id(1),
        )
        .await
}

/// User 1 holds `seats` of schedule 1 with token 1.
pub async fn hold_as_user_one(
    services: &Services,
    seats: Vec<SeatId>,
) -> Result<Reservation, HoldSeatsError> {
    services
        .hold_seats(user(1), Some(token_id(1)), schedule(1), seats)
        .await
}
