//! Refund cases (contract v1.1): only the caller's CONFIRMED reservation, only before the
//! cut-off, atomically (REFUNDED, seats free, wallet credited what was paid, a REFUND entry),
//! idempotent like payments, and never capped by the balance maximum.

use crate::fixtures::{
    active_token, charge_ok, concert, default_holds, hold_ok, hold_policy, idem, ledger_in_pages,
    new_charge, new_payment, roomy_queue, schedule, schedule_at, seat_ids, seats, user,
    wallet_policy,
};
use crate::StoreUnderTest;
use chrono::TimeDelta;
use domain::ports::NewRefund;
use domain::{
    ChargeError, LedgerKind, RefundError, RefundId, RefundPolicy, RefundRejection, Reservation,
    ReservationId, ReservationStatus, ScheduleSeats, StoredOutcome, TransactionId, UserId,
};
use std::time::Duration;
use uuid::Uuid;

/// A refund request under `key` (fingerprint derived from the reservation).
#[must_use]
pub fn new_refund(user_id: UserId, reservation_id: ReservationId, key: &str) -> NewRefund {
    NewRefund {
        user_id,
        reservation_id,
        refund_id: RefundId::from_uuid(Uuid::now_v7()),
        transaction_id: TransactionId::from_uuid(Uuid::now_v7()),
        idempotency: idem(key, &format!("refund:{reservation_id}")),
    }
}

/// The default cut-off (24 hours).
fn cutoff() -> RefundPolicy {
    RefundPolicy::default()
}

async fn balance(s: &StoreUnderTest, u: UserId) -> i64 {
    s.wallets.wallet(u).await.expect("wallet").balance.won()
}

async fn status(s: &StoreUnderTest, u: UserId, id: ReservationId) -> ReservationStatus {
    s.reservations
        .reservation(u, id)
        .await
        .expect("read")
        .expect("mine")
        .status
}

/// Holds `seats` of `sch` for `u` and pays for them (the wallet is charged the price first).
pub async fn confirmed(
    s: &StoreUnderTest,
    u: UserId,
    sch: &ScheduleSeats,
    seats: &[domain::SeatId],
    key: &str,
) -> Reservation {
    let r = hold_ok(s, u, sch, seats, default_holds()).await;
    if r.total_price.won() > 0 {
        charge_ok(s, u, r.total_price.won(), &format!("{key}-fill")).await;
    }
    let token = active_token(s, u, sch.concert_id, roomy_queue()).await;
    s.wallets
        .pay(new_payment(u, r.id, token, &format!("{key}-pay")))
        .await
        .expect("pay");
    r
}

/// A refund makes the reservation REFUNDED, frees its seats at once (another user holds one
/// right after), credits exactly what was paid with a REFUND entry, replays its first answer
/// and refuses the key for another request.
pub async fn refund_credits_frees_seats_and_replays(s: StoreUnderTest) {
    let (u, other) = (user(1), user(2));
    let c = concert(&s, "Refund").await;
    let sch = schedule(&s, c, 4, 70_000).await;
    let ids = seat_ids(&sch);
    let r = confirmed(&s, u, &sch, &ids[..2], "r1").await;
    charge_ok(&s, u, 5_000, "extra").await;
    assert_eq!(balance(&s, u).await, 5_000);

    let request = new_refund(u, r.id, "refund-1");
    let receipt = s
        .wallets
        .refund(request.clone(), cutoff())
        .await
        .expect("refund");
    assert_eq!(receipt.refund_id, request.refund_id);
    assert_eq!(receipt.reservation_id, r.id);
    assert_eq!(
        (receipt.amount.won(), receipt.balance_after.won()),
        (140_000, 145_000)
    );
    assert_eq!(balance(&s, u).await, 145_000);
    assert_eq!(status(&s, u, r.id).await, ReservationStatus::Refunded);
    let listing = s
        .catalogue
        .schedule_seats(sch.schedule_id)
        .await
        .expect("seats");
    assert!(
        listing.seats.iter().all(|x| x.available),
        "the refunded seats are available at once"
    );
    let ledger = ledger_in_pages(&*s.wallets, u, 100).await;
    let entry = &ledger[0];
    assert_eq!(entry.kind, LedgerKind::Refund);
    assert_eq!(entry.amount, 140_000);
    assert_eq!(entry.balance_after.won(), 145_000);
    assert_eq!(entry.id, request.transaction_id);
    assert_eq!(
        entry.reference.as_deref(),
        Some(request.refund_id.to_string().as_str())
    );

    // A seat of the refunded reservation is holdable right away.
    let again = hold_ok(&s, other, &sch, &ids[..1], default_holds()).await;
    assert_eq!(again.status, ReservationStatus::Held);

    // Replay: the same receipt, nothing moves.
    assert_eq!(
        s.wallets
            .refund(new_refund(u, r.id, "refund-1"), cutoff())
            .await,
        Ok(receipt.clone())
    );
    assert_eq!(balance(&s, u).await, 145_000);
    let mut reuse = new_refund(u, r.id, "refund-1");
    reuse.idempotency = idem("refund-1", "another request");
    assert_eq!(
        s.wallets.refund(reuse, cutoff()).await,
        Err(RefundError::IdempotencyKeyReused)
    );
    // A charge under the refund's key is a reuse too.
    assert_eq!(
        s.wallets
            .charge(
                new_charge(u, 10, "refund-1"),
                wallet_policy(1_000_000, 10_000_000)
            )
            .await,
        Err(ChargeError::IdempotencyKeyReused)
    );
    let record = s
        .wallets
        .idempotency_record(u, idem("refund-1", "x").key)
        .await
        .expect("record")
        .expect("stored");
    assert_eq!(record.outcome, Some(StoredOutcome::Refunded(receipt)));
    assert_eq!(
        ledger_in_pages(&*s.wallets, u, 100).await.len(),
        ledger.len()
    );
}

/// Another user's reservation is not found, and nothing is stored under the key.
pub async fn refund_of_another_users_reservation_is_not_found(s: StoreUnderTest) {
    let (u, other) = (user(1), user(2));
    let c = concert(&s, "Theirs").await;
    let sch = schedule(&s, c, 2, 10_000).await;
    let r = confirmed(&s, u, &sch, &seat_ids(&sch)[..1], "t").await;
    assert_eq!(
        s.wallets
            .refund(new_refund(other, r.id, "k"), cutoff())
            .await,
        Err(RefundError::NotFound)
    );
    assert_eq!(
        s.wallets
            .refund(
                new_refund(other, ReservationId::from_uuid(Uuid::now_v7()), "k"),
                cutoff()
            )
            .await,
        Err(RefundError::NotFound)
    );
    assert_eq!(
        s.wallets
            .idempotency_record(other, idem("k", "x").key)
            .await,
        Ok(None),
        "a not-found refund stores nothing"
    );
    assert_eq!(status(&s, u, r.id).await, ReservationStatus::Confirmed);
    assert_eq!(balance(&s, other).await, 0);
}

/// Only a CONFIRMED reservation is refundable: HELD, EXPIRED, CANCELLED and already REFUNDED
/// ones are refused, the refusal is stored and replays the same, and nothing moves.
pub async fn only_a_confirmed_reservation_is_refundable(s: StoreUnderTest) {
    let u = user(1);
    let c = concert(&s, "NotRefundable").await;
    let sch = schedule(&s, c, 4, 20_000).await;
    let ids = seat_ids(&sch);
    let held = hold_ok(&s, u, &sch, &ids[..1], default_holds()).await;
    let cancelled = hold_ok(&s, u, &sch, &ids[1..2], default_holds()).await;
    s.reservations
        .cancel(u, cancelled.id)
        .await
        .expect("cancel");
    let short = hold_policy(Duration::from_millis(600), 4, 4);
    let expiring = hold_ok(&s, u, &sch, &ids[2..3], short).await;
    let paid = confirmed(&s, u, &sch, &ids[3..4], "p").await;
    s.wallets
        .refund(new_refund(u, paid.id, "first"), cutoff())
        .await
        .expect("first refund");
    s.wait(Duration::from_millis(800)).await;
    assert_eq!(status(&s, u, expiring.id).await, ReservationStatus::Expired);
    let before = balance(&s, u).await;
    for (i, id) in [held.id, cancelled.id, expiring.id, paid.id]
        .into_iter()
        .enumerate()
    {
        let key = format!("no-{i}");
        assert_eq!(
            s.wallets.refund(new_refund(u, id, &key), cutoff()).await,
            Err(RefundError::NotRefundable),
            "reservation {i}"
        );
        // The refusal is stored: a replay answers the same.
        assert_eq!(
            s.wallets
                .idempotency_record(u, idem(&key, "x").key)
                .await
                .expect("record")
                .and_then(|r| r.outcome),
            Some(StoredOutcome::RefundRejected(
                RefundRejection::NotRefundable
            ))
        );
        assert_eq!(
            s.wallets.refund(new_refund(u, id, &key), cutoff()).await,
            Err(RefundError::NotRefundable)
        );
    }
    assert_eq!(balance(&s, u).await, before, "nothing moved");
    assert_eq!(status(&s, u, held.id).await, ReservationStatus::Held);
    assert_eq!(status(&s, u, paid.id).await, ReservationStatus::Refunded);
}

/// Past the cut-off (by the store's clock) a refund is refused and stored; a shorter cut-off
/// lets the same reservation be refunded.
pub async fn refund_window_closes_at_the_cutoff(s: StoreUnderTest) {
    let u = user(1);
    let c = concert(&s, "Soon").await;
    let sch = schedule_at(&s, c, TimeDelta::hours(2), seats(2, 30_000)).await;
    let r = confirmed(&s, u, &sch, &seat_ids(&sch)[..1], "w").await;
    assert_eq!(
        s.wallets
            .refund(new_refund(u, r.id, "late"), cutoff())
            .await,
        Err(RefundError::WindowClosed)
    );
    assert_eq!(
        s.wallets
            .refund(new_refund(u, r.id, "late"), cutoff())
            .await,
        Err(RefundError::WindowClosed),
        "the stored refusal replays"
    );
    assert_eq!(
        s.wallets
            .refund(
                new_refund(u, r.id, "late-3h"),
                RefundPolicy::new(3).expect("valid")
            )
            .await,
        Err(RefundError::WindowClosed)
    );
    assert_eq!(status(&s, u, r.id).await, ReservationStatus::Confirmed);
    let ok = s
        .wallets
        .refund(
            new_refund(u, r.id, "in-time"),
            RefundPolicy::new(1).expect("valid"),
        )
        .await
        .expect("refund with a 1-hour cut-off");
    assert_eq!(ok.amount.won(), 30_000);
}

/// A refund is never refused for the balance maximum; charges are refused while the balance is
/// over it.
pub async fn a_refund_may_pass_the_balance_maximum(s: StoreUnderTest) {
    let u = user(1);
    let policy = wallet_policy(100_000, 100_000);
    let c = concert(&s, "Cap").await;
    let sch = schedule(&s, c, 1, 60_000).await;
    let r = confirmed(&s, u, &sch, &seat_ids(&sch), "cap").await;
    s.wallets
        .charge(new_charge(u, 100_000, "top-up"), policy)
        .await
        .expect("charge to the maximum");
    assert_eq!(balance(&s, u).await, 100_000);
    let receipt = s
        .wallets
        .refund(new_refund(u, r.id, "over"), cutoff())
        .await
        .expect("refund over the maximum");
    assert_eq!(receipt.balance_after.won(), 160_000);
    assert_eq!(balance(&s, u).await, 160_000);
    assert_eq!(
        s.wallets.charge(new_charge(u, 1, "more"), policy).await,
        Err(ChargeError::BalanceLimitExceeded)
    );
}

/// Refunds of one reservation under different keys at once: exactly one credits, the others
/// are refused NOT_REFUNDABLE.
pub async fn concurrent_refunds_of_one_reservation_credit_once(s: StoreUnderTest) {
    let u = user(1);
    let c = concert(&s, "Twice").await;
    let sch = schedule(&s, c, 1, 50_000).await;
    let r = confirmed(&s, u, &sch, &seat_ids(&sch), "twice").await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let wallets = s.wallets.clone();
        let refund = new_refund(u, r.id, &format!("k-{i}"));
        tasks.push(tokio::spawn(async move {
            wallets.refund(refund, cutoff()).await
        }));
    }
    let mut ok = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => ok += 1,
            Err(e) => assert_eq!(e, RefundError::NotRefundable),
        }
    }
    assert_eq!(ok, 1, "refunded once");
    assert_eq!(balance(&s, u).await, 50_000);
    let refunds = ledger_in_pages(&*s.wallets, u, 100)
        .await
        .into_iter()
        .filter(|e| e.kind == LedgerKind::Refund)
        .count();
    assert_eq!(refunds, 1);
}
