//! Migrations apply, and the schema itself refuses states that would break an invariant.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use adapters_postgres::run_migrations;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

async fn exec(conn: &mut AsyncPgConnection, sql: &str) -> Result<usize, String> {
    diesel::sql_query(sql)
        .execute(conn)
        .await
        .map_err(|e| e.to_string())
}

#[derive(diesel::QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// A concert, schedule, two seats, a held reservation on seat 1; returns (schedule, seat1, seat2).
async fn fixture(conn: &mut AsyncPgConnection) -> (i64, i64, i64) {
    let concert: Id =
        diesel::sql_query("INSERT INTO concerts (title, venue) VALUES ('t', 'v') RETURNING id")
            .get_result(conn)
            .await
            .unwrap();
    exec(
        conn,
        &format!(
            "INSERT INTO concert_queues (concert_id) VALUES ({})",
            concert.id
        ),
    )
    .await
    .unwrap();
    let schedule: Id = diesel::sql_query(
        "INSERT INTO schedules (concert_id, starts_at) VALUES ($1, now() + interval '1 day') RETURNING id",
    )
    .bind::<BigInt, _>(concert.id)
    .get_result(conn)
    .await
    .unwrap();
    let seats: Vec<Id> = diesel::sql_query(
        "INSERT INTO seats (schedule_id, number, grade, price) \
         VALUES ($1, 'A1', 'R', 100), ($1, 'A2', 'R', 100) RETURNING id",
    )
    .bind::<BigInt, _>(schedule.id)
    .load(conn)
    .await
    .unwrap();
    (schedule.id, seats[0].id, seats[1].id)
}

async fn insert_hold(
    conn: &mut AsyncPgConnection,
    id: &str,
    schedule: i64,
    seat: i64,
) -> Result<usize, String> {
    exec(
        conn,
        &format!(
            "INSERT INTO reservations (id, user_id, schedule_id, status, total_price, held_until) \
             VALUES ('{id}', 1, {schedule}, 'HELD', 100, now() + interval '5 minutes')"
        ),
    )
    .await?;
    exec(
        conn,
        &format!(
            "INSERT INTO reservation_seats (reservation_id, schedule_id, seat_id, price) \
             VALUES ('{id}', {schedule}, {seat}, 100)"
        ),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn migrations_apply_and_are_idempotent() {
    let Some(db) = test_db!() else { return };
    assert!(run_migrations(&db.url).await.unwrap().is_empty());
    let mut conn = db.conn().await;
    #[derive(diesel::QueryableByName)]
    struct Name {
        #[diesel(sql_type = Text)]
        table_name: String,
    }
    let tables: Vec<Name> = diesel::sql_query(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'public' ORDER BY table_name",
    )
    .load(&mut conn)
    .await
    .unwrap();
    let names: Vec<_> = tables.into_iter().map(|t| t.table_name).collect();
    for expected in [
        "concerts",
        "schedules",
        "seats",
        "concert_queues",
        "queue_tokens",
        "queue_admissions",
        "reservations",
        "reservation_seats",
        "wallets",
        "payments",
        "ledger_entries",
        "idempotency_records",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "missing table {expected}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_production_function_takes_a_switch() {
    // Arrange: the schema as the migrations leave it.
    let Some(db) = test_db!() else { return };
    let mut conn = db.conn().await;
    #[derive(diesel::QueryableByName)]
    struct Function {
        #[diesel(sql_type = Text)]
        signature: String,
    }
    // Act: every function of the schema that takes a boolean (a switch that turns a rule off
    // is one), and every function whose text carries a negative control's marker.
    let switches: Vec<Function> = diesel::sql_query(
        "SELECT p.oid::regprocedure::text AS signature FROM pg_proc p \
         JOIN pg_namespace n ON n.oid = p.pronamespace \
         WHERE n.nspname = 'public' \
           AND ('boolean'::regtype = ANY(p.proargtypes::regtype[]) \
                OR p.prosrc LIKE '%NEGATIVE-CONTROL%') \
         ORDER BY 1",
    )
    .load(&mut conn)
    .await
    .unwrap();
    // Assert: guards are not switchable in production; a negative control replaces a guard
    // function in its own test database (tests/common/controls.rs).
    let found: Vec<String> = switches.into_iter().map(|f| f.signature).collect();
    assert!(found.is_empty(), "switchable functions: {found:?}");
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations"))
        .unwrap()
        .map(|dir| std::fs::read_to_string(dir.unwrap().path().join("up.sql")).unwrap())
        .collect::<Vec<_>>();
    assert!(migrations
        .iter()
        .all(|sql| !sql.contains("NEGATIVE-CONTROL")));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_seat_cannot_have_two_live_lines() {
    let Some(db) = test_db!() else { return };
    let mut conn = db.conn().await;
    let (schedule, seat1, seat2) = fixture(&mut conn).await;
    insert_hold(
        &mut conn,
        "00000000-0000-0000-0000-000000000001",
        schedule,
        seat1,
    )
    .await
    .unwrap();
    let err = insert_hold(
        &mut conn,
        "00000000-0000-0000-0000-000000000002",
        schedule,
        seat1,
    )
    .await
    .unwrap_err();
    assert!(err.contains("reservation_seats_one_live"), "{err}");
    // A line naming a seat of another schedule is refused by the composite foreign key.
    let err = exec(
        &mut conn,
        &format!(
            "INSERT INTO reservation_seats (reservation_id, schedule_id, seat_id, price) \
             VALUES ('00000000-0000-0000-0000-000000000001', {schedule}, {}, 1)",
            seat2 + 1000
        ),
    )
    .await
    .unwrap_err();
    assert!(err.contains("foreign key"), "{err}");
    // Cancelling releases the seat (trigger), after which a new hold may take it.
    exec(
        &mut conn,
        "UPDATE reservations SET status = 'CANCELLED' WHERE id = '00000000-0000-0000-0000-000000000001'",
    )
    .await
    .unwrap();
    insert_hold(
        &mut conn,
        "00000000-0000-0000-0000-000000000003",
        schedule,
        seat1,
    )
    .await
    .unwrap();
    // A final status is final; a live hold cannot be marked expired before its deadline.
    let err = exec(
        &mut conn,
        "UPDATE reservations SET status = 'HELD' WHERE id = '00000000-0000-0000-0000-000000000001'",
    )
    .await
    .unwrap_err();
    assert!(err.contains("cannot become"), "{err}");
    let err = exec(
        &mut conn,
        "UPDATE reservations SET status = 'EXPIRED' WHERE id = '00000000-0000-0000-0000-000000000003'",
    )
    .await
    .unwrap_err();
    assert!(err.contains("cannot expire"), "{err}");
    let err = exec(&mut conn, "UPDATE reservations SET status = 'LOST'")
        .await
        .unwrap_err();
    assert!(err.contains("check"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn money_rules_are_enforced_by_the_schema() {
    let Some(db) = test_db!() else { return };
    let mut conn = db.conn().await;
    let (schedule, seat1, _) = fixture(&mut conn).await;
    exec(
        &mut conn,
        "INSERT INTO wallets (user_id, balance) VALUES (1, 100)",
    )
    .await
    .unwrap();
    let err = exec(
        &mut conn,
        "UPDATE wallets SET balance = balance - 101 WHERE user_id = 1",
    )
    .await
    .unwrap_err();
    assert!(err.contains("wallets_balance_check"), "{err}");
    exec(
        &mut conn,
        "INSERT INTO ledger_entries (id, user_id, kind, amount, balance_after, reference) \
         VALUES ('00000000-0000-0000-0000-0000000000a1', 1, 'CHARGE', 100, 100, 'k')",
    )
    .await
    .unwrap();
    let err = exec(&mut conn, "UPDATE ledger_entries SET amount = 1")
        .await
        .unwrap_err();
    assert!(err.contains("append-only"), "{err}");
    let err = exec(&mut conn, "DELETE FROM ledger_entries")
        .await
        .unwrap_err();
    assert!(err.contains("append-only"), "{err}");
    let err = exec(&mut conn, "TRUNCATE ledger_entries CASCADE")
        .await
        .unwrap_err();
    assert!(err.contains("append-only"), "{err}");
    let err = exec(
        &mut conn,
        "INSERT INTO ledger_entries (id, user_id, kind, amount, balance_after) \
         VALUES ('00000000-0000-0000-0000-0000000000a2', 1, 'CHARGE', -5, 95)",
    )
    .await
    .unwrap_err();
    assert!(err.contains("ledger_entries_amount_sign"), "{err}");
    // One payment per reservation.
    insert_hold(
        &mut conn,
        "00000000-0000-0000-0000-000000000001",
        schedule,
        seat1,
    )
    .await
    .unwrap();
    let pay = |id: &str| {
        format!(
            "INSERT INTO payments (id, reservation_id, user_id, amount) \
             VALUES ('{id}', '00000000-0000-0000-0000-000000000001', 1, 100)"
        )
    };
    exec(&mut conn, &pay("00000000-0000-0000-0000-0000000000b1"))
        .await
        .unwrap();
    let err = exec(&mut conn, &pay("00000000-0000-0000-0000-0000000000b2"))
        .await
        .unwrap_err();
    assert!(err.contains("payments_reservation_key"), "{err}");
    // One idempotency record per (user, key).
    let record = "INSERT INTO idempotency_records (user_id, key, fingerprint, outcome, rejection) \
                  VALUES (1, 'k', 'f', 'CHARGE_REJECTED', 'BALANCE_LIMIT_EXCEEDED')";
    exec(&mut conn, record).await.unwrap();
    let err = exec(&mut conn, record).await.unwrap_err();
    assert!(err.contains("idempotency_records_pkey"), "{err}");
    let err = exec(
        &mut conn,
        "INSERT INTO idempotency_records (user_id, key, fingerprint, outcome) \
         VALUES (1, 'k2', 'f', 'CHARGED')",
    )
    .await
    .unwrap_err();
    assert!(err.contains("idempotency_records_outcome_shape"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_live_queue_token_per_user_and_concert() {
    let Some(db) = test_db!() else { return };
    let mut conn = db.conn().await;
    fixture(&mut conn).await;
    let token = |id: &str, seq: i64| {
        format!(
            "INSERT INTO queue_tokens (id, user_id, concert_id, seq, status) \
             VALUES ('{id}', 7, (SELECT min(id) FROM concerts), {seq}, 'WAITING')"
        )
    };
    exec(&mut conn, &token("00000000-0000-0000-0000-0000000000c1", 1))
        .await
        .unwrap();
    let err = exec(&mut conn, &token("00000000-0000-0000-0000-0000000000c2", 2))
        .await
        .unwrap_err();
    assert!(err.contains("queue_tokens_one_live"), "{err}");
    exec(&mut conn, "UPDATE queue_tokens SET status = 'EXPIRED'")
        .await
        .unwrap();
    let err = exec(&mut conn, "UPDATE queue_tokens SET status = 'WAITING'")
        .await
        .unwrap_err();
    assert!(err.contains("cannot go from"), "{err}");
    exec(&mut conn, &token("00000000-0000-0000-0000-0000000000c3", 3))
        .await
        .unwrap();
    let err = exec(
        &mut conn,
        "UPDATE queue_tokens SET status = 'ACTIVE' WHERE seq = 3",
    )
    .await
    .unwrap_err();
    assert!(err.contains("queue_tokens_active_has_window"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_schedule_never_moves_to_another_concert() {
    // Arrange: the service caches which concert a schedule belongs to.
    let Some(db) = test_db!() else { return };
    let mut conn = db.conn().await;
    let (schedule, _, _) = fixture(&mut conn).await;
    exec(
        &mut conn,
        "INSERT INTO concerts (title, venue) VALUES ('u', 'w')",
    )
    .await
    .unwrap();

    // Act
    let moved = exec(
        &mut conn,
        &format!(
            "UPDATE schedules SET concert_id = (SELECT max(id) FROM concerts) WHERE id = {schedule}"
        ),
    )
    .await;
    let same = exec(
        &mut conn,
        &format!("UPDATE schedules SET concert_id = concert_id WHERE id = {schedule}"),
    )
    .await;

    // Assert
    assert!(
        moved.as_ref().is_err_and(|e| e.contains("never changes")),
        "{moved:?}"
    );
    assert_eq!(same, Ok(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn ledger_entries_are_numbered_per_wallet_and_backfilled() {
    // Arrange: the schema as it was before migration 2025-01-05 (its down.sql), with entries of
    // two wallets.
    use diesel_async::SimpleAsyncConnection;
    const UP: &str = include_str!("../../../migrations/2025-01-05-000000_ledger_order/up.sql");
    const DOWN: &str = include_str!("../../../migrations/2025-01-05-000000_ledger_order/down.sql");
    let Some(db) = test_db!() else { return };
    let mut conn = db.conn().await;
    conn.batch_execute(DOWN).await.unwrap();
    for statement in [
        "INSERT INTO wallets (user_id, balance) VALUES (1, 30), (2, 5)",
        "INSERT INTO ledger_entries (id, user_id, kind, amount, balance_after, created_at) VALUES \
         ('00000000-0000-0000-0000-0000000000b2', 1, 'CHARGE', 20, 30, '2025-01-01T00:00:02Z'), \
         ('00000000-0000-0000-0000-0000000000b1', 1, 'CHARGE', 10, 10, '2025-01-01T00:00:01Z'), \
         ('00000000-0000-0000-0000-0000000000c1', 2, 'CHARGE', 5, 5, '2025-01-01T00:00:03Z')",
    ] {
        exec(&mut conn, statement).await.unwrap();
    }

    // Act: the migration, then a new entry for user 1 that names a number of its own.
    conn.batch_execute(UP).await.unwrap();
    exec(
        &mut conn,
        "INSERT INTO ledger_entries (id, user_id, kind, amount, balance_after, seq) \
         VALUES ('00000000-0000-0000-0000-0000000000b3', 1, 'CHARGE', 1, 31, 99)",
    )
    .await
    .unwrap();
    let orphan = exec(
        &mut conn,
        "INSERT INTO ledger_entries (id, user_id, kind, amount, balance_after) \
         VALUES ('00000000-0000-0000-0000-0000000000d1', 3, 'CHARGE', 1, 1)",
    )
    .await;

    // Assert: old entries numbered in their old order, the new one next, per wallet.
    #[derive(diesel::QueryableByName, Debug, PartialEq)]
    struct Numbered {
        #[diesel(sql_type = Text)]
        entry: String,
        #[diesel(sql_type = BigInt)]
        seq: i64,
    }
    let numbered: Vec<Numbered> = diesel::sql_query(
        "SELECT user_id || ':' || right(id::text, 2) AS entry, seq FROM ledger_entries \
         UNION ALL SELECT 'wallet ' || user_id, ledger_seq FROM wallets \
         ORDER BY 1",
    )
    .load(&mut conn)
    .await
    .unwrap();
    let pairs: Vec<(&str, i64)> = numbered.iter().map(|n| (n.entry.as_str(), n.seq)).collect();
    assert_eq!(
        pairs,
        vec![
            ("1:b1", 1),
            ("1:b2", 2),
            ("1:b3", 3),
            ("2:c1", 1),
            ("wallet 1", 3),
            ("wallet 2", 1),
        ]
    );
    assert!(
        orphan.as_ref().is_err_and(|e| e.contains("no wallet")),
        "{orphan:?}"
    );
}
