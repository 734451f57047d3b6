//! Refund races against the invariant checker, on PostgreSQL (a fresh database per test) and on
//! the in-memory store, in the manner of `races.rs` (a background task checks every invariant
//! every ~20 ms, and once more at the end):
//!
//! * refunds racing with holds of the seats they free (and with one another's payers' charges);
//! * two refunds of one reservation at once, under different keys; its negative control turns
//!   the `Refundable` guard off (PostgreSQL: `refund_allowed` replaced and
//!   `refunds_reservation_key` dropped) and must be caught (a reservation refunded twice).
//!
//! Every race prints one summary line (run with `--nocapture` to see them).

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use adapters_memory::Guard as MemGuard;
use adapters_postgres::Guard;
use common::race::*;
use common::*;
use domain::ports::NewRefund;
use domain::*;
use futures::future::join_all;
use std::collections::BTreeMap;
use std::sync::Arc;

const PAID: i64 = 25;
const PRICE: i64 = 300;

fn refund(u: UserId, reservation: ReservationId, key: &str) -> NewRefund {
    NewRefund {
        user_id: u,
        reservation_id: reservation,
        refund_id: RefundId::from_uuid(new_id()),
        transaction_id: TransactionId::from_uuid(new_id()),
        idempotency: idem(key, &format!("refund:{reservation}")),
    }
}

/// 25 users each with one paid seat of one schedule (a week ahead).
async fn paid_seats<S: Stores>(store: &S) -> (ScheduleSeats, Vec<(UserId, ReservationId, SeatId)>) {
    let (concert, schedule) = concert_with_seats(store, 25, PRICE).await;
    let mut paid = Vec::new();
    for n in 1..=PAID {
        let u = user(n);
        charge(store, u, 1000, &format!("charge-{n}")).await;
        let token = active_token(store, u, concert, queue()).await;
        let seat = schedule.seats[usize::try_from(n - 1).unwrap()].id;
        let held = store
            .hold(
                new_hold(u, token, &schedule, &[seat]),
                hold_policy(secs(600), 4),
            )
            .await
            .unwrap();
        store
            .pay(payment(u, held.id, token, &format!("pay-{n}")))
            .await
            .unwrap();
        paid.push((u, held.id, seat));
    }
    (schedule, paid)
}

// ------------------------------------------------------------------ race 1: refund vs holds

const HOLDERS_PER_SEAT: i64 = 4;

/// What the refund-vs-hold race saw beyond the tally.
#[derive(Debug, Default)]
struct Freed {
    /// Refunds that succeeded.
    refunded: usize,
    /// Hold attempts refused while no hold had the seat yet: the seat was still sold, so they
    /// raced its refund (collisions really exercised).
    lost_to_refund: usize,
    /// Seats where a hold won the freed seat.
    resold: usize,
    /// The most holds any one seat granted (must be ≤ 1).
    most_holds: usize,
}

/// For each of 25 paid seats, 4 other users keep trying to hold it (every ~2 ms) from before
/// its refund is sent until one of them has it; the refunds are sent once the holders are
/// running. `won` counts successful holds, `refused` refused attempts.
async fn refund_vs_holds<S: Stores>(store: Arc<S>) -> (Tally, Freed) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let (schedule, paid) = paid_seats(&*store).await;
    let mut holders = Vec::new();
    for (i, (_, _, seat)) in paid.iter().enumerate() {
        let taken = Arc::new(AtomicBool::new(false));
        for h in 0..HOLDERS_PER_SEAT {
            let n = 1000 + i64::try_from(i).unwrap() * HOLDERS_PER_SEAT + h;
            let hold = admitted_hold(&*store, user(n), &schedule, &[*seat]).await;
            holders.push((*seat, hold, Arc::clone(&taken)));
        }
    }
    let holders: Vec<_> = holders
        .into_iter()
        .map(|(seat, hold, taken)| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                // (won, refused while no hold had the seat, refused after, unexpected)
                let mut seen = (0usize, 0usize, 0usize, Vec::new());
                for _ in 0..3000 {
                    if taken.load(Ordering::SeqCst) {
                        break;
                    }
                    let attempt = domain::ports::NewHold {
                        reservation_id: ReservationId::from_uuid(new_id()),
                        ..hold.clone()
                    };
                    match store.hold(attempt, hold_policy(secs(600), 4)).await {
                        Ok(_) => {
                            taken.store(true, Ordering::SeqCst);
                            seen.0 += 1;
                            break;
                        }
                        Err(HoldSeatsError::SeatUnavailable { .. }) => {
                            if taken.load(Ordering::SeqCst) {
                                seen.2 += 1;
                            } else {
                                seen.1 += 1;
                            }
                        }
                        Err(other) => seen.3.push(format!("hold: {other:?}")),
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                }
                (seat, seen)
            })
        })
        .collect();
    // Let every holder be refused at least once while its seat is still sold.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let refunds = paid.iter().map(|(u, reservation, _)| {
        let store = Arc::clone(&store);
        let r = refund(*u, *reservation, &format!("refund-{u}"));
        tokio::spawn(async move { store.refund(r, RefundPolicy::default()).await })
    });
    let (refunds, holds) = futures::join!(join_all(refunds), join_all(holders));
    let mut tally = Tally::default();
    let mut freed = Freed::default();
    for r in refunds {
        match r.unwrap() {
            Ok(_) => freed.refunded += 1,
            Err(other) => tally.unexpected.push(format!("refund: {other:?}")),
        }
    }
    let mut per_seat: BTreeMap<SeatId, usize> = BTreeMap::new();
    for h in holds {
        let (seat, (won, before, after, unexpected)) = h.unwrap();
        tally.attempts += won + before + after + unexpected.len();
        tally.won += won;
        tally.refused += before + after;
        freed.lost_to_refund += before;
        tally.unexpected.extend(unexpected);
        *per_seat.entry(seat).or_default() += won;
    }
    for won in per_seat.values() {
        freed.most_holds = freed.most_holds.max(*won);
        if *won > 0 {
            freed.resold += 1;
        }
    }
    (tally, freed)
}

fn print_freed(store: &str, freed: &Freed) {
    println!(
        "race refund vs holds [{store}]: {} refunds, {} seats resold, {} hold attempts refused \
         while the seat was still sold (raced its refund), at most {} hold(s) per seat",
        freed.refunded, freed.resold, freed.lost_to_refund, freed.most_holds
    );
}

fn assert_freed(tally: &Tally, freed: &Freed) {
    assert!(tally.unexpected.is_empty(), "{:?}", tally.unexpected);
    assert_eq!(freed.refunded, usize::try_from(PAID).unwrap());
    assert!(freed.most_holds <= 1, "a freed seat was held twice");
    assert_eq!(tally.won, freed.resold);
    assert_eq!(
        freed.resold,
        usize::try_from(PAID).unwrap(),
        "every freed seat resold"
    );
    assert!(
        freed.lost_to_refund >= usize::try_from(PAID).unwrap(),
        "holds did not race the refunds ({} refused before)",
        freed.lost_to_refund
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_refunds_racing_holds_of_their_seats_sell_each_seat_once() {
    // Arrange
    let Some((_db, store, checker)) = pg(&[], &[]).await else {
        return;
    };
    // Act
    let ((tally, freed), seen, took) = watched(checker, refund_vs_holds(store)).await;
    // Assert
    report(
        "refund vs 4 holds per seat",
        "pg",
        true,
        &tally,
        &seen,
        took,
    );
    print_freed("pg", &freed);
    assert_freed(&tally, &freed);
    seen.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_refunds_racing_holds_of_their_seats_sell_each_seat_once() {
    // Arrange
    let (store, checker) = memory(&[]);
    // Act
    let ((tally, freed), seen, took) = watched(checker, refund_vs_holds(store)).await;
    // Assert
    report(
        "refund vs 4 holds per seat",
        "memory",
        true,
        &tally,
        &seen,
        took,
    );
    print_freed("memory", &freed);
    assert_freed(&tally, &freed);
    seen.assert_clean();
}

// ------------------------------------------------------------------ race 2: two refunds

/// 25 paid reservations, each refunded twice at once under two different keys. `won` counts
/// successful refunds; the most refunds any one reservation got is returned too.
async fn double_refund<S: Stores>(store: Arc<S>) -> (Tally, usize) {
    let (_, paid) = paid_seats(&*store).await;
    let attempts = paid.iter().flat_map(|(u, reservation, _)| {
        ["a", "b"].map(|side| {
            let store = Arc::clone(&store);
            let r = refund(*u, *reservation, &format!("refund-{u}-{side}"));
            tokio::spawn(async move {
                (
                    r.reservation_id,
                    store.refund(r, RefundPolicy::default()).await,
                )
            })
        })
    });
    let results = join_all(attempts).await;
    let mut tally = Tally::default();
    let mut per_reservation: BTreeMap<ReservationId, usize> = BTreeMap::new();
    for r in results {
        tally.attempts += 1;
        let (reservation, outcome) = r.unwrap();
        match outcome {
            Ok(_) => {
                tally.won += 1;
                *per_reservation.entry(reservation).or_default() += 1;
            }
            Err(RefundError::NotRefundable) => tally.refused += 1,
            Err(other) => tally.unexpected.push(format!("{other:?}")),
        }
    }
    (tally, per_reservation.values().copied().max().unwrap_or(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_two_refunds_of_one_reservation_refund_once() {
    // Arrange
    let Some((_db, store, checker)) = pg(&[], &[]).await else {
        return;
    };
    // Act
    let ((tally, most), seen, took) = watched(checker, double_refund(store)).await;
    // Assert
    report(
        "two refunds, one reservation",
        "pg",
        true,
        &tally,
        &seen,
        took,
    );
    assert!(tally.unexpected.is_empty(), "{:?}", tally.unexpected);
    assert_eq!((tally.won, tally.refused, most), (25, 25, 1));
    seen.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_negative_control_two_refunds_without_their_guard_are_caught() {
    // Arrange: refund_allowed says yes to anything, refunds_reservation_key is gone.
    let Some((_db, store, checker)) = pg(&[], &[Guard::Refundable]).await else {
        return;
    };
    // Act
    let ((tally, most), seen, took) = watched(checker, double_refund(store)).await;
    // Assert
    report(
        "two refunds, one reservation",
        "pg",
        false,
        &tally,
        &seen,
        took,
    );
    assert_eq!(most, 2);
    seen.assert_caught(4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_two_refunds_of_one_reservation_refund_once() {
    // Arrange
    let (store, checker) = memory(&[]);
    // Act
    let ((tally, most), seen, took) = watched(checker, double_refund(store)).await;
    // Assert
    report(
        "two refunds, one reservation",
        "memory",
        true,
        &tally,
        &seen,
        took,
    );
    assert!(tally.unexpected.is_empty(), "{:?}", tally.unexpected);
    assert_eq!((tally.won, tally.refused, most), (25, 25, 1));
    seen.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_negative_control_two_refunds_without_their_guard_are_caught() {
    // Arrange
    let (store, checker) = memory(&[MemGuard::Refundable]);
    // Act
    let ((tally, most), seen, took) = watched(checker, double_refund(store)).await;
    // Assert
    report(
        "two refunds, one reservation",
        "memory",
        false,
        &tally,
        &seen,
        took,
    );
    assert_eq!(most, 2);
    seen.assert_caught(4);
}
