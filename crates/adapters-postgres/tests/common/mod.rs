//! Test harness: every test gets its own fresh database, copied from a migrated template.
//!
//! `TEST_DATABASE_URL` must name a superuser on a throwaway server (`scripts/lib/pg.sh`). When
//! it is unset the tests are skipped with a note, unless `CI` is set, where that is a failure.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use adapters_postgres::{connect, run_migrations, PgConfig, PgStore};
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use domain::*;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::time::Duration;
use tokio::sync::OnceCell;

pub mod controls;
pub mod race;

/// Session advisory lock serialising template creation across concurrent test binaries.
const TEMPLATE_LOCK: i64 = 7_202_502_099;

static TEMPLATE: OnceCell<String> = OnceCell::const_new();

/// The admin URL, or `None` (after saying so) when PostgreSQL tests should be skipped.
pub fn admin_url() -> Option<String> {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "TEST_DATABASE_URL is not set but CI is: start a throwaway server with \
                 `source scripts/lib/pg.sh && pg_start_throwaway`"
            );
            eprintln!(
                "skipping PostgreSQL test: TEST_DATABASE_URL is not set \
                 (source scripts/lib/pg.sh && pg_start_throwaway)"
            );
            None
        }
    }
}

/// `url` with its database name replaced.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let cut = base.rfind('/').expect("database URL has a path");
    let mut out = format!("{}/{}", &base[..cut], database);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// A digest of every migration file, so a changed schema gets a new template.
fn migrations_digest() -> u64 {
    fn walk(dir: &Path, hasher: &mut std::collections::hash_map::DefaultHasher) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        entries.sort();
        for path in entries {
            path.file_name().hash(hasher);
            if path.is_dir() {
                walk(&path, hasher);
            } else if let Ok(bytes) = std::fs::read(&path) {
                bytes.hash(hasher);
            }
        }
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations"),
        &mut hasher,
    );
    hasher.finish()
}

#[derive(diesel::QueryableByName)]
struct Exists {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn database_exists(conn: &mut AsyncPgConnection, name: &str) -> bool {
    let row: Exists = diesel::sql_query("SELECT count(*) AS n FROM pg_database WHERE datname = $1")
        .bind::<Text, _>(name)
        .get_result(conn)
        .await
        .expect("query pg_database");
    row.n > 0
}

/// Runs `sql` (DDL on generated names), retrying while the template is still being released.
async fn create_database(conn: &mut AsyncPgConnection, sql: &str) {
    for attempt in 0.. {
        match diesel::sql_query(sql).execute(conn).await {
            Ok(_) => return,
            Err(e) if attempt < 50 && e.to_string().contains("being accessed by other users") => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{sql}: {e}"),
        }
    }
}

async fn template(admin: &str) -> String {
    TEMPLATE
        .get_or_init(|| async {
            let name = format!("concert_tmpl_{:016x}", migrations_digest());
            let mut conn = AsyncPgConnection::establish(admin)
                .await
                .expect("connect to TEST_DATABASE_URL");
            diesel::sql_query("SELECT pg_advisory_lock($1)")
                .bind::<BigInt, _>(TEMPLATE_LOCK)
                .execute(&mut conn)
                .await
                .expect("template lock");
            if !database_exists(&mut conn, &name).await {
                let building = format!("{name}_build");
                diesel::sql_query(format!("DROP DATABASE IF EXISTS {building}"))
                    .execute(&mut conn)
                    .await
                    .expect("drop stale template build");
                create_database(&mut conn, &format!("CREATE DATABASE {building}")).await;
                run_migrations(&with_database(admin, &building))
                    .await
                    .expect("migrate the template");
                // Renaming only once complete: an existing template is always a migrated one.
                create_database(
                    &mut conn,
                    &format!("ALTER DATABASE {building} RENAME TO {name}"),
                )
                .await;
            }
            diesel::sql_query("SELECT pg_advisory_unlock($1)")
                .bind::<BigInt, _>(TEMPLATE_LOCK)
                .execute(&mut conn)
                .await
                .expect("template unlock");
            name
        })
        .await
        .clone()
}

/// A fresh database of its own, migrated.
pub struct TestDb {
    /// Its URL (superuser).
    pub url: String,
}

impl TestDb {
    /// A new database copied from the template, or `None` when the tests are skipped.
    pub async fn new() -> Option<Self> {
        let admin = admin_url()?;
        let template = template(&admin).await;
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = AsyncPgConnection::establish(&admin)
            .await
            .expect("connect to TEST_DATABASE_URL");
        create_database(
            &mut conn,
            &format!("CREATE DATABASE {name} TEMPLATE {template}"),
        )
        .await;
        let url = with_database(&admin, &name);
        // A no-op unless migrations were added after the template was made.
        run_migrations(&url).await.expect("migrate test database");
        Some(Self { url })
    }

    /// A store on this database.
    pub async fn store(&self, pool_size: usize) -> PgStore {
        let mut config = PgConfig::new(self.url.clone()).with_pool_size(pool_size);
        config.wait_timeout = Duration::from_secs(30);
        config.operation_timeout = Duration::from_secs(60);
        connect(config).await.expect("connect store")
    }

    /// A plain connection, for raw SQL.
    pub async fn conn(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.url)
            .await
            .expect("connect test database")
    }
}

/// `let Some(db) = test_db!() else { return };`
#[macro_export]
macro_rules! test_db {
    () => {
        common::TestDb::new().await
    };
}

// ------------------------------------------------------------------ domain fixtures

pub fn user(n: i64) -> UserId {
    UserId::new(n).unwrap()
}

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub fn queue_policy(
    batch: u32,
    max_active: u32,
    active_ttl: Duration,
    idle: Duration,
) -> QueuePolicy {
    QueuePolicy::new(batch, max_active, TICK, active_ttl, idle).unwrap()
}

/// The admit interval of the tests' policies: admission slots of a millisecond, so that a
/// [`tick`] (which lets one interval pass first) always runs in a new slot.
pub const TICK: Duration = Duration::from_millis(1);

/// One admission tick in a slot of its own: lets `policy`'s admit interval pass, then admits
/// (the store admits at most the batch per slot, however many ticks run in it).
pub async fn tick<S>(store: &S, policy: QueuePolicy) -> Vec<domain::AdmissionReport>
where
    S: domain::ports::QueueStore,
{
    tokio::time::sleep(policy.admit_interval()).await;
    store.admit(policy).await.unwrap()
}

pub fn default_queue() -> QueuePolicy {
    queue_policy(100, 1000, secs(600), secs(300))
}

pub fn hold_policy(ttl: Duration, per_user: u32) -> HoldPolicy {
    HoldPolicy::new(ttl, per_user.min(4), per_user).unwrap()
}

pub fn wallet_policy(charge_max: i64, balance_max: i64) -> WalletPolicy {
    WalletPolicy::new(
        Money::new(charge_max).unwrap(),
        Money::new(balance_max).unwrap(),
    )
    .unwrap()
}

pub fn token_id() -> QueueTokenId {
    QueueTokenId::from_uuid(uuid::Uuid::now_v7())
}

pub fn idem(key: &str, fingerprint: &str) -> IdempotencyContext {
    IdempotencyContext {
        key: IdempotencyKey::new(key).unwrap(),
        fingerprint: RequestFingerprint::new(fingerprint),
    }
}

/// A concert with one future schedule of `seats` seats priced `price`.
pub async fn concert_with_seats<S>(
    store: &S,
    seats: usize,
    price: i64,
) -> (ConcertId, ScheduleSeats)
where
    S: domain::ports::CatalogueStore,
{
    let concert = store
        .create_concert(NewConcert {
            title: ConcertTitle::new("Test concert").unwrap(),
            venue: Venue::new("Hall").unwrap(),
            sale: domain::SaleWindow::ALWAYS_OPEN,
        })
        .await
        .unwrap();
    let seats = (0..seats)
        .map(|i| NewSeat {
            number: SeatNumber::new(format!("A-{i}")).unwrap(),
            grade: SeatGrade::new("R").unwrap(),
            price: Money::new(price).unwrap(),
        })
        .collect();
    let schedule =
        NewSchedule::new(chrono::Utc::now() + chrono::Duration::days(30), seats).unwrap();
    let created = store.create_schedule(concert.id, schedule).await.unwrap();
    (concert.id, created)
}

pub fn selection(seats: &[SeatId]) -> SeatSelection {
    SeatSelection::new(seats.to_vec(), 100).unwrap()
}

pub fn new_hold(
    user_id: UserId,
    queue_token: QueueTokenId,
    schedule: &ScheduleSeats,
    seats: &[SeatId],
) -> domain::ports::NewHold {
    domain::ports::NewHold {
        reservation_id: ReservationId::from_uuid(uuid::Uuid::now_v7()),
        user_id,
        schedule_id: schedule.schedule_id,
        seats: selection(seats),
        queue_token,
    }
}

/// A hold by `user_id` under their live token for the schedule's concert (admitted now if it was
/// waiting; a new one if they had none).
pub async fn admitted_hold<S>(
    store: &S,
    user_id: UserId,
    schedule: &ScheduleSeats,
    seats: &[SeatId],
) -> domain::ports::NewHold
where
    S: domain::ports::QueueStore,
{
    let token = live_token(store, user_id, schedule.concert_id, default_queue()).await;
    new_hold(user_id, token, schedule, seats)
}

/// The user's live token for `concert` (a new one if they had none), admitted.
pub async fn live_token<S>(
    store: &S,
    user_id: UserId,
    concert: ConcertId,
    policy: QueuePolicy,
) -> QueueTokenId
where
    S: domain::ports::QueueStore,
{
    join_and_admit(store, user_id, concert, policy).await.0
}

/// Joins and admits `user` for `concert` so they hold an ACTIVE token (a new one: they must
/// have had none).
pub async fn active_token<S>(
    store: &S,
    user_id: UserId,
    concert: ConcertId,
    policy: QueuePolicy,
) -> QueueTokenId
where
    S: domain::ports::QueueStore,
{
    let (id, created) = join_and_admit(store, user_id, concert, policy).await;
    assert!(created, "the user already had a live token");
    id
}

/// Joins (or finds the live token), runs an admission tick, and checks the token is ACTIVE;
/// the token and whether the join made it.
async fn join_and_admit<S>(
    store: &S,
    user_id: UserId,
    concert: ConcertId,
    policy: QueuePolicy,
) -> (QueueTokenId, bool)
where
    S: domain::ports::QueueStore,
{
    let joined = store
        .join(user_id, concert, token_id(), policy)
        .await
        .unwrap();
    let id = joined.standing.token.id;
    if joined.standing.token.status != QueueTokenStatus::Active {
        tick(store, policy).await;
    }
    let token = store.token(id, policy).await.unwrap().unwrap();
    assert_eq!(
        token.status,
        QueueTokenStatus::Active,
        "token was not admitted"
    );
    (id, joined.created)
}
