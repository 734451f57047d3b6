//! Admission per interval does not depend on the number of instances: with one instance, and then
//! with two on the same database (each with its own pool and its own admission loop), a concert
//! admits at most `admitBatch` tokens per admit interval, and one instance alone still admits
//! about `admitBatch` per interval.
//!
//! Admissions are counted per slot (`floor(epoch µs / interval µs)`, the slots of
//! `domain::admission_slot`) from two sources: the `queue_admissions` rows the ticks write, and the
//! tokens' own `admitted_at`. Before admission slots, each instance admitted a batch per tick of
//! its own, so two instances admitted up to twice the batch per interval (and the four ticks per
//! interval of the scheduler would admit four times as much): the assertion below then fails.
//!
//! Needs `TEST_DATABASE_URL` (a server where a database may be created; `scripts/test` starts
//! one); skipped with a note when it is unset, except in CI.

mod support;

use app::{spawn_app, Config, RunningApp, Secret};
use diesel::sql_types::{BigInt, Timestamptz};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use std::collections::BTreeMap;
use std::time::Duration;
use support::fresh_database;

const INTERVAL_MS: u64 = 100;
const BATCH: u32 = 3;
/// How long each phase runs: 40 intervals.
const PHASE: Duration = Duration::from_secs(4);

#[derive(diesel::QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

#[derive(diesel::QueryableByName)]
struct Now {
    #[diesel(sql_type = Timestamptz)]
    now: chrono::DateTime<chrono::Utc>,
}

#[derive(diesel::QueryableByName)]
struct PerSlot {
    #[diesel(sql_type = BigInt)]
    slot: i64,
    #[diesel(sql_type = BigInt)]
    admitted: i64,
}

async fn instance(database_url: &str) -> RunningApp {
    spawn_app(Config {
        database_url: Some(Secret::new(database_url)),
        jwt_secret: Some(Secret::new("admission-rate-test-jwt-secret-0123456789")),
        admin_api_key: Some(Secret::new("admission-rate-test-admin-key")),
        database_pool_size: Some(4),
        queue_admit_interval_ms: INTERVAL_MS,
        queue_admit_batch: BATCH,
        queue_max_active: 1_000_000,
        ..Config::for_tests()
    })
    .await
    .expect("the instance starts")
}

async fn db_now(conn: &mut AsyncPgConnection) -> chrono::DateTime<chrono::Utc> {
    diesel::sql_query("SELECT now()")
        .get_result::<Now>(conn)
        .await
        .expect("now")
        .now
}

/// Admissions per slot between `from` and `to` (database clock), from the `queue_admissions`
/// rows and from the tokens' `admitted_at`.
async fn per_slot(
    conn: &mut AsyncPgConnection,
    concert: i64,
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
) -> (BTreeMap<i64, i64>, BTreeMap<i64, i64>) {
    let step = i64::try_from(INTERVAL_MS * 1000).expect("small");
    let read = |sql: &'static str| {
        diesel::sql_query(sql)
            .bind::<BigInt, _>(step)
            .bind::<BigInt, _>(concert)
            .bind::<Timestamptz, _>(from)
            .bind::<Timestamptz, _>(to)
    };
    let ticks: Vec<PerSlot> = read(
        "SELECT floor(extract(epoch FROM admitted_at) * 1000000 / $1)::bigint AS slot, \
                sum(admitted)::bigint AS admitted \
         FROM queue_admissions \
         WHERE concert_id = $2 AND admitted_at >= $3 AND admitted_at < $4 \
         GROUP BY 1 ORDER BY 1",
    )
    .load(conn)
    .await
    .expect("admissions per slot");
    let tokens: Vec<PerSlot> = read(
        "SELECT floor(extract(epoch FROM admitted_at) * 1000000 / $1)::bigint AS slot, \
                count(*) AS admitted \
         FROM queue_tokens \
         WHERE concert_id = $2 AND admitted_at >= $3 AND admitted_at < $4 \
         GROUP BY 1 ORDER BY 1",
    )
    .load(conn)
    .await
    .expect("tokens per slot");
    let map = |rows: Vec<PerSlot>| rows.into_iter().map(|r| (r.slot, r.admitted)).collect();
    (map(ticks), map(tokens))
}

/// Runs one phase and checks it: at most the batch per slot, and about the batch per interval.
async fn phase(conn: &mut AsyncPgConnection, concert: i64, instances: usize) -> (i64, usize, i64) {
    let from = db_now(conn).await;
    tokio::time::sleep(PHASE).await;
    let to = db_now(conn).await;
    let (ticks, tokens) = per_slot(conn, concert, from, to).await;
    let total: i64 = tokens.values().sum();
    let max = tokens.values().copied().max().unwrap_or(0);
    let spanned = usize::try_from((to - from).num_milliseconds()).expect("positive")
        / usize::try_from(INTERVAL_MS).expect("small");
    println!(
        "{instances} instance(s): {spanned} intervals, {total} admitted in {} slots, \
         at most {max} in one slot (batch {BATCH}), {:.2} per interval; per slot: {:?}",
        tokens.len(),
        total as f64 / spanned as f64,
        tokens.values().collect::<Vec<_>>()
    );
    assert_eq!(ticks, tokens, "the ticks' records match the tokens");
    for (slot, n) in &tokens {
        assert!(
            *n <= i64::from(BATCH),
            "{instances} instance(s): slot {slot} admitted {n}, more than the batch {BATCH}"
        );
    }
    (total, spanned, max)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn at_most_the_batch_per_interval_with_one_and_with_two_instances() {
    let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "TEST_DATABASE_URL must be set in CI (scripts/test sets it)"
        );
        eprintln!("TEST_DATABASE_URL unset: skipping the admission-rate test (run scripts/test)");
        return;
    };
    // Arrange: one instance; a concert with 1,000 waiting tokens (far more than two phases
    // admit), inserted directly and polled "now" (the idle timeout is 300 s).
    let url = fresh_database(&admin_url, "admission_rate").await;
    let first = instance(&url).await;
    let mut conn = AsyncPgConnection::establish(&url).await.expect("connect");
    let concert: Id = diesel::sql_query(
        "WITH c AS (INSERT INTO concerts (title, venue) VALUES ('Rate', 'Hall') RETURNING id), \
              q AS (INSERT INTO concert_queues (concert_id, next_seq) \
                    SELECT id, 1000 FROM c RETURNING concert_id) \
         SELECT concert_id AS id FROM q",
    )
    .get_result(&mut conn)
    .await
    .expect("a concert");
    diesel::sql_query(
        "INSERT INTO queue_tokens (id, user_id, concert_id, seq, status) \
         SELECT gen_random_uuid(), g, $1, g, 'WAITING' FROM generate_series(1, 1000) g",
    )
    .bind::<BigInt, _>(concert.id)
    .execute(&mut conn)
    .await
    .expect("waiting tokens");

    // Act + Assert: one instance, then two.
    let (one_total, one_intervals, one_max) = phase(&mut conn, concert.id, 1).await;
    let second = instance(&url).await;
    let (two_total, two_intervals, two_max) = phase(&mut conn, concert.id, 2).await;

    // Assert: one instance keeps up with its interval (its ticks drift against the slots, yet
    // it reaches nearly every slot), and a second instance adds nothing.
    let full = |intervals: usize| i64::try_from(intervals).expect("small") * i64::from(BATCH);
    assert!(
        one_total * 10 >= full(one_intervals) * 8,
        "one instance admitted {one_total} in {one_intervals} intervals (batch {BATCH})"
    );
    assert!(
        two_total <= full(two_intervals + 1),
        "two instances admitted {two_total} in {two_intervals} intervals"
    );
    assert!(two_total * 10 >= full(two_intervals) * 8);
    assert!(one_max <= i64::from(BATCH) && two_max <= i64::from(BATCH));

    second.stop().await.expect("stop");
    first.stop().await.expect("stop");
}
