//! The invariant checker itself: a consistent database passes, and hand-written rows that break
//! each invariant (written after dropping the schema rule that would refuse them) are reported.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use adapters_postgres::{InvariantReport, PgStore};
use common::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::ports::{NewCharge, NewPayment, NewRefund, ReservationStore, WalletStore};
use domain::*;

/// What the busy database holds.
struct Busy {
    db: TestDb,
    store: PgStore,
    /// User 1's CONFIRMED reservation (paid 300 of a 1000 charge).
    paid: Reservation,
    /// User 2's HELD reservation.
    held: Reservation,
}

fn queue() -> QueuePolicy {
    queue_policy(10, 2, secs(600), secs(300))
}

/// User 1 charged 1000, held a seat and paid it (300); user 2 holds the other seat.
async fn busy() -> Option<Busy> {
    let db = test_db!()?;
    let store = db.store(4).await;
    let (concert, schedule) = concert_with_seats(&store, 2, 300).await;
    let policy = hold_policy(secs(600), 4);
    let paid = store
        .hold(
            admitted_hold(&store, user(1), &schedule, &[schedule.seats[0].id]).await,
            policy,
        )
        .await
        .unwrap();
    let held = store
        .hold(
            admitted_hold(&store, user(2), &schedule, &[schedule.seats[1].id]).await,
            policy,
        )
        .await
        .unwrap();
    store
        .charge(
            NewCharge {
                user_id: user(1),
                transaction_id: TransactionId::from_uuid(uuid::Uuid::now_v7()),
                amount: ChargeAmount::new(1000, Money::new(10_000).unwrap()).unwrap(),
                idempotency: idem("charge-1", "charge:1000"),
            },
            wallet_policy(10_000, 100_000),
        )
        .await
        .unwrap();
    let token = live_token(&store, user(1), concert, queue()).await;
    store
        .pay(NewPayment {
            user_id: user(1),
            reservation_id: paid.id,
            queue_token: Some(token),
            payment_id: PaymentId::from_uuid(uuid::Uuid::now_v7()),
            transaction_id: TransactionId::from_uuid(uuid::Uuid::now_v7()),
            idempotency: idem("pay-1", "pay:1"),
        })
        .await
        .unwrap();
    Some(Busy {
        db,
        store,
        paid,
        held,
    })
}

async fn sql(conn: &mut AsyncPgConnection, statements: &[&str]) {
    for statement in statements {
        diesel::sql_query(*statement)
            .execute(conn)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
}

async fn check(store: &PgStore) -> InvariantReport {
    store.check_invariants(queue()).await.unwrap()
}

fn checks(report: &InvariantReport) -> Vec<&'static str> {
    let mut names: Vec<&str> = report.violations.iter().map(|v| v.check).collect();
    names.sort_unstable();
    names.dedup();
    names
}

#[tokio::test]
async fn a_consistent_database_passes() {
    // Arrange
    let Some(busy) = busy().await else { return };
    // Act
    let report = check(&busy.store).await;
    // Assert
    assert!(report.is_clean(), "{:?}", report.violations);
}

#[tokio::test]
async fn a_second_live_hold_on_a_seat_is_reported() {
    // Arrange: user 3 "holds" user 2's seat too, past the unique index.
    let Some(busy) = busy().await else { return };
    let mut conn = busy.db.conn().await;
    let seat = busy.held.seats[0].seat_id.get();
    let twin = uuid::Uuid::now_v7();
    sql(
        &mut conn,
        &[
            "DROP INDEX reservation_seats_one_live",
            &format!(
                "INSERT INTO reservations (id, user_id, schedule_id, status, total_price, \
                    held_until) VALUES ('{twin}', 3, {}, 'HELD', 300, now() + interval '1 hour')",
                busy.held.schedule_id.get()
            ),
            &format!(
                "INSERT INTO reservation_seats (reservation_id, schedule_id, seat_id, price) \
                 VALUES ('{twin}', {}, {seat}, 300)",
                busy.held.schedule_id.get()
            ),
        ],
    )
    .await;
    // Act
    let report = check(&busy.store).await;
    // Assert
    assert_eq!(report.broken(), vec![1], "{:?}", report.violations);
    assert_eq!(checks(&report), vec!["seat_one_live"]);
}

#[tokio::test]
async fn a_leaked_seat_line_is_reported() {
    // Arrange: user 2's hold is cancelled without its trigger releasing the seat.
    let Some(busy) = busy().await else { return };
    let mut conn = busy.db.conn().await;
    sql(
        &mut conn,
        &[
            "DROP TRIGGER reservations_release_seats ON reservations",
            &format!(
                "UPDATE reservations SET status = 'CANCELLED' WHERE id = '{}'",
                busy.held.id
            ),
        ],
    )
    .await;
    // Act
    let report = check(&busy.store).await;
    // Assert
    assert_eq!(checks(&report), vec!["seat_lines_match_status"]);
}

/// The state the boundary race left before migration `2025-01-04-000000_sold_once`: user 1's
/// paid reservation lost its seat line (past the trigger that forbids it) and user 3 holds the
/// same seat. Returns user 3's reservation id.
async fn steal_the_sold_seat(busy: &Busy, conn: &mut AsyncPgConnection) -> uuid::Uuid {
    let seat = busy.paid.seats[0].seat_id.get();
    let schedule = busy.paid.schedule_id.get();
    let thief = uuid::Uuid::now_v7();
    sql(
        conn,
        &[
            "ALTER TABLE reservation_seats DISABLE TRIGGER reservation_seats_stay_released",
            &format!(
                "UPDATE reservation_seats SET live = false WHERE reservation_id = '{}'",
                busy.paid.id
            ),
            &format!(
                "INSERT INTO reservations (id, user_id, schedule_id, status, total_price, \
                    held_until) VALUES ('{thief}', 3, {schedule}, 'HELD', 300, \
                    now() + interval '1 hour')"
            ),
            &format!(
                "INSERT INTO reservation_seats (reservation_id, schedule_id, seat_id, price) \
                 VALUES ('{thief}', {schedule}, {seat}, 300)"
            ),
        ],
    )
    .await;
    thief
}

#[tokio::test]
async fn the_expiry_boundary_double_sale_is_reported() {
    // Arrange: user 3 holds the seat user 1 stays CONFIRMED for.
    let Some(busy) = busy().await else { return };
    let mut conn = busy.db.conn().await;
    steal_the_sold_seat(&busy, &mut conn).await;
    // Act
    let report = check(&busy.store).await;
    // Assert
    assert_eq!(report.broken(), vec![1], "{:?}", report.violations);
    let names = checks(&report);
    for expected in ["confirmed_lines_all_live", "seat_one_live"] {
        assert!(names.contains(&expected), "{names:?}");
    }
}

#[tokio::test]
async fn a_seat_sold_twice_is_reported() {
    // Arrange: user 3 then pays for the stolen seat, in full.
    let Some(busy) = busy().await else { return };
    let mut conn = busy.db.conn().await;
    let second = steal_the_sold_seat(&busy, &mut conn).await;
    sql(
        &mut conn,
        &[
            "INSERT INTO wallets (user_id, balance) VALUES (3, 0)",
            &format!(
                "INSERT INTO payments (id, reservation_id, user_id, amount) \
                 VALUES (gen_random_uuid(), '{second}', 3, 300)"
            ),
            &format!("UPDATE reservations SET status = 'CONFIRMED' WHERE id = '{second}'"),
        ],
    )
    .await;
    // Act
    let report = check(&busy.store).await;
    // Assert
    let names = checks(&report);
    for expected in ["seat_sold_once", "confirmed_lines_all_live"] {
        assert!(names.contains(&expected), "{names:?}");
    }
}

#[tokio::test]
async fn money_out_of_thin_air_is_reported() {
    // Arrange
    let Some(busy) = busy().await else { return };
    let mut conn = busy.db.conn().await;
    sql(
        &mut conn,
        &["UPDATE wallets SET balance = balance + 5000 WHERE user_id = 1"],
    )
    .await;
    // Act
    let report = check(&busy.store).await;
    // Assert
    assert_eq!(report.broken(), vec![2, 3], "{:?}", report.violations);
}

#[tokio::test]
async fn a_negative_balance_is_reported() {
    // Arrange: a debit the wallet could not cover, with its ledger entry.
    let Some(busy) = busy().await else { return };
    let mut conn = busy.db.conn().await;
    sql(
        &mut conn,
        &[
            "ALTER TABLE wallets DROP CONSTRAINT wallets_balance_check",
            "ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_balance_after_check",
            "ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_amount_sign",
            "INSERT INTO ledger_entries (id, user_id, kind, amount, balance_after, reference) \
             VALUES (gen_random_uuid(), 1, 'REFUND', 1, 701, 'x')",
            "UPDATE wallets SET balance = -99 WHERE user_id = 1",
        ],
    )
    .await;
    // Act
    let report = check(&busy.store).await;
    // Assert
    assert!(report
        .violations
        .iter()
        .any(|v| v.invariant == 2 && v.detail.contains("balance -99")));
}

#[tokio::test]
async fn a_second_payment_is_reported() {
    // Arrange
    let Some(busy) = busy().await else { return };
    let mut conn = busy.db.conn().await;
    sql(
        &mut conn,
        &[
            "ALTER TABLE payments DROP CONSTRAINT payments_reservation_key",
            &format!(
                "INSERT INTO payments (id, reservation_id, user_id, amount) \
                 VALUES (gen_random_uuid(), '{}', 1, 300)",
                busy.paid.id
            ),
        ],
    )
    .await;
    // Act
    let report = check(&busy.store).await;
    // Assert: paid twice, without the money, its ledger entry or its key's record.
    assert_eq!(report.broken(), vec![3, 4, 6], "{:?}", report.violations);
    let names = checks(&report);
    for expected in [
        "paid_at_most_once",
        "payment_in_ledger",
        "confirmed_iff_paid",
    ] {
        assert!(names.contains(&expected), "{names:?}");
    }
}

#[tokio::test]
async fn a_payment_after_the_deadline_is_reported() {
    // Arrange: the paid hold's deadline moved before its payment.
    let Some(busy) = busy().await else { return };
    let mut conn = busy.db.conn().await;
    sql(
        &mut conn,
        &[
            "ALTER TABLE reservations DROP CONSTRAINT reservations_hold_after_creation",
            &format!(
                "UPDATE reservations SET held_until = created_at - interval '1 second' \
                 WHERE id = '{}'",
                busy.paid.id
            ),
        ],
    )
    .await;
    // Act
    let report = check(&busy.store).await;
    // Assert
    assert_eq!(checks(&report), vec!["payment_matches_reservation"]);
}

#[tokio::test]
async fn an_over_cap_or_out_of_order_queue_is_reported() {
    // Arrange: three ACTIVE tokens with a cap of 2, and a waiting token ahead of them.
    let Some(busy) = busy().await else { return };
    let mut conn = busy.db.conn().await;
    let concert = "(SELECT concert_id FROM concert_queues LIMIT 1)";
    sql(
        &mut conn,
        &[
            &format!(
                "UPDATE concert_queues SET next_seq = 13, admitted_through = 13 \
                 WHERE concert_id = {concert}"
            ),
            &format!(
                "INSERT INTO queue_tokens (id, user_id, concert_id, seq, status, admitted_at, \
                    active_until) \
                 SELECT gen_random_uuid(), 10 + g, {concert}, 10 + g, 'ACTIVE', now(), \
                    now() + interval '1 hour' FROM generate_series(1, 3) g"
            ),
            &format!(
                "INSERT INTO queue_tokens (id, user_id, concert_id, seq, status) \
                 VALUES (gen_random_uuid(), 99, {concert}, 5, 'WAITING')"
            ),
        ],
    )
    .await;
    // Act
    let report = check(&busy.store).await;
    // Assert
    assert_eq!(report.broken(), vec![5], "{:?}", report.violations);
    assert_eq!(
        checks(&report),
        vec!["active_within_cap", "admission_in_issue_order"]
    );
}

#[tokio::test]
async fn a_key_that_charged_twice_is_reported() {
    // Arrange: a second CHARGE under the same key, balance kept in step.
    let Some(busy) = busy().await else { return };
    let mut conn = busy.db.conn().await;
    sql(
        &mut conn,
        &[
            "INSERT INTO ledger_entries (id, user_id, kind, amount, balance_after, reference) \
             VALUES (gen_random_uuid(), 1, 'CHARGE', 1000, 1700, 'charge-1')",
            "UPDATE wallets SET balance = balance + 1000 WHERE user_id = 1",
        ],
    )
    .await;
    // Act
    let report = check(&busy.store).await;
    // Assert
    assert_eq!(report.broken(), vec![6], "{:?}", report.violations);
    assert_eq!(
        checks(&report),
        vec!["charge_has_its_record", "one_charge_per_key"]
    );
}

#[tokio::test]
async fn a_ledger_out_of_balance_order_is_reported() {
    // Arrange: two charges (+50, +20), each with its key's record, whose balances say the +20
    // came first, numbered +50 first (as ordering by transaction start could list them); the
    // balance is their sum, so only the order is wrong. (Before the refunds migration these were
    // two bare REFUND entries; a REFUND entry now needs its refund.)
    let Some(busy) = busy().await else { return };
    let mut conn = busy.db.conn().await;
    let (fifty, twenty) = (
        "00000000-0000-7000-8000-000000000050",
        "00000000-0000-7000-8000-000000000020",
    );
    sql(
        &mut conn,
        &[
            &format!(
                "INSERT INTO ledger_entries (id, user_id, kind, amount, balance_after, reference) \
                 VALUES ('{fifty}', 1, 'CHARGE', 50, 770, 'k50')"
            ),
            &format!(
                "INSERT INTO ledger_entries (id, user_id, kind, amount, balance_after, reference) \
                 VALUES ('{twenty}', 1, 'CHARGE', 20, 720, 'k20')"
            ),
            &format!(
                "INSERT INTO idempotency_records (user_id, key, fingerprint, outcome, \
                    transaction_id, amount, balance, occurred_at) VALUES \
                 (1, 'k50', 'f50', 'CHARGED', '{fifty}', 50, 770, now()), \
                 (1, 'k20', 'f20', 'CHARGED', '{twenty}', 20, 720, now())"
            ),
            "UPDATE wallets SET balance = balance + 70 WHERE user_id = 1",
        ],
    )
    .await;
    // Act
    let report = check(&busy.store).await;
    // Assert
    assert_eq!(report.broken(), vec![2], "{:?}", report.violations);
    assert_eq!(checks(&report), vec!["ledger_running_sum"]);
}

#[tokio::test]
async fn a_gap_in_a_ledgers_numbering_is_reported() {
    // Arrange: the wallet's counter skips a number, so its next entry would leave a gap.
    let Some(busy) = busy().await else { return };
    let mut conn = busy.db.conn().await;
    sql(
        &mut conn,
        &["UPDATE wallets SET ledger_seq = ledger_seq + 1 WHERE user_id = 1"],
    )
    .await;
    // Act
    let report = check(&busy.store).await;
    // Assert
    assert_eq!(report.broken(), vec![2], "{:?}", report.violations);
    assert_eq!(checks(&report), vec!["ledger_numbered_without_gaps"]);
}

/// Refunds user 1's paid reservation through the store (300 back).
async fn refund_paid(busy: &Busy) -> RefundReceipt {
    busy.store
        .refund(
            NewRefund {
                user_id: user(1),
                reservation_id: busy.paid.id,
                refund_id: RefundId::from_uuid(uuid::Uuid::now_v7()),
                transaction_id: TransactionId::from_uuid(uuid::Uuid::now_v7()),
                idempotency: idem("refund-1", "refund:1"),
            },
            RefundPolicy::default(),
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn a_refunded_database_passes() {
    // Arrange
    let Some(busy) = busy().await else { return };
    let receipt = refund_paid(&busy).await;
    // Act
    let report = check(&busy.store).await;
    // Assert
    assert_eq!(receipt.amount.won(), 300);
    assert!(report.is_clean(), "{:?}", report.violations);
}

#[tokio::test]
async fn a_second_refund_is_reported() {
    // Arrange: the refunded reservation refunded again, with its ledger entry and the money.
    let Some(busy) = busy().await else { return };
    let first = refund_paid(&busy).await;
    let mut conn = busy.db.conn().await;
    let second = uuid::Uuid::now_v7();
    sql(
        &mut conn,
        &[
            "ALTER TABLE refunds DROP CONSTRAINT refunds_reservation_key",
            &format!(
                "INSERT INTO refunds (id, reservation_id, payment_id, user_id, amount, \
                    refunded_at) \
                 SELECT '{second}', reservation_id, payment_id, user_id, amount, now() \
                 FROM refunds WHERE id = '{}'",
                first.refund_id
            ),
            &format!(
                "INSERT INTO ledger_entries (id, user_id, kind, amount, balance_after, \
                    reference, refund_id) \
                 VALUES (gen_random_uuid(), 1, 'REFUND', 300, 1300, '{second}', '{second}')"
            ),
            "UPDATE wallets SET balance = balance + 300 WHERE user_id = 1",
        ],
    )
    .await;
    // Act
    let report = check(&busy.store).await;
    // Assert: refunded twice, and the second has no record under a key.
    let names = checks(&report);
    for expected in [
        "refunded_at_most_once",
        "refunded_iff_refund",
        "refund_has_one_record",
    ] {
        assert!(names.contains(&expected), "{names:?}");
    }
    assert_eq!(report.broken(), vec![4, 6], "{:?}", report.violations);
}

#[tokio::test]
async fn a_refunded_reservation_still_holding_its_seat_is_reported() {
    // Arrange: the refunded reservation's line made live again behind the trigger's back.
    let Some(busy) = busy().await else { return };
    refund_paid(&busy).await;
    let mut conn = busy.db.conn().await;
    sql(
        &mut conn,
        &[
            "ALTER TABLE reservation_seats DISABLE TRIGGER reservation_seats_stay_released",
            &format!(
                "UPDATE reservation_seats SET live = true WHERE reservation_id = '{}'",
                busy.paid.id
            ),
        ],
    )
    .await;
    // Act
    let report = check(&busy.store).await;
    // Assert
    assert_eq!(checks(&report), vec!["seat_lines_match_status"]);
}

#[tokio::test]
async fn a_refund_of_another_amount_is_reported() {
    // Arrange: the refund says 299 while 300 was paid (the composite FK dropped).
    let Some(busy) = busy().await else { return };
    let refund = refund_paid(&busy).await;
    let mut conn = busy.db.conn().await;
    sql(
        &mut conn,
        &[
            "ALTER TABLE refunds DISABLE TRIGGER refunds_append_only",
            "ALTER TABLE refunds DROP CONSTRAINT refunds_payment_fkey",
            "ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_refund_fkey",
            &format!(
                "UPDATE refunds SET amount = 299 WHERE id = '{}'",
                refund.refund_id
            ),
        ],
    )
    .await;
    // Act
    let report = check(&busy.store).await;
    // Assert
    let names = checks(&report);
    assert!(names.contains(&"refund_matches_payment"), "{names:?}");
    assert!(names.contains(&"refund_in_ledger"), "{names:?}");
}

/// Invariant 7: user 2's hold offered to two entries (past the unique indexes that refuse it),
/// one of them another user's.
#[tokio::test]
async fn a_seat_offered_twice_is_reported() {
    // Arrange
    let Some(busy) = busy().await else { return };
    let mut conn = busy.db.conn().await;
    let (schedule, seat, offer) = (
        busy.held.schedule_id.get(),
        busy.held.seats[0].seat_id.get(),
        busy.held.id,
    );
    let entry = |user: i64| {
        format!(
            "INSERT INTO waitlist_entries (id, user_id, schedule_id, status, \
                offer_reservation_id, offer_seat_id) \
             VALUES ('{}', {user}, {schedule}, 'OFFERED', '{offer}', {seat})",
            uuid::Uuid::now_v7()
        )
    };
    sql(
        &mut conn,
        &[
            "DROP INDEX waitlist_entries_one_offer_per_seat",
            "DROP INDEX waitlist_entries_offer_reservation_key",
            &entry(2),
            &entry(7),
        ],
    )
    .await;
    // Act
    let report = check(&busy.store).await;
    // Assert
    assert_eq!(
        checks(&report),
        vec!["waitlist_offer_live_hold", "waitlist_one_offer_per_seat"]
    );
    assert!(report.broken().contains(&7));
}

/// Invariant 7: an entry FULFILLED while its offer is still only HELD.
#[tokio::test]
async fn a_fulfilled_entry_of_an_unpaid_offer_is_reported() {
    // Arrange
    let Some(busy) = busy().await else { return };
    let mut conn = busy.db.conn().await;
    sql(
        &mut conn,
        &[&format!(
            "INSERT INTO waitlist_entries (id, user_id, schedule_id, status, \
                offer_reservation_id, offer_seat_id) \
             VALUES ('{}', 2, {}, 'FULFILLED', '{}', {})",
            uuid::Uuid::now_v7(),
            busy.held.schedule_id.get(),
            busy.held.id,
            busy.held.seats[0].seat_id.get()
        )],
    )
    .await;
    // Act
    let report = check(&busy.store).await;
    // Assert
    assert_eq!(checks(&report), vec!["waitlist_entry_consistent"]);
}
