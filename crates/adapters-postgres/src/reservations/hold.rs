//! Seat holds. Every hold runs here, as part of a batch: the holds waiting at one moment become
//! one transaction of a fixed number of statements, and a hold that arrives alone is a batch of
//! one (there is no second implementation to keep in step).
//!
//! The transaction does each step once, set-wise, for all its holds:
//!
//! 1. the schedules that exist and have not started (`FOR KEY SHARE`);
//! 2. the holders' advisory locks, in one sorted order (the per-user cap cannot be raced);
//! 3. every requested seat, locked in ascending id order (`FOR NO KEY UPDATE`): two batches
//!    queue on a seat and never deadlock, since everyone takes user locks first and seat locks
//!    in id order after;
//! 4. lapsed holds on those seats are expired (`release_lapsed_holds`: their reservations move
//!    to EXPIRED, which releases their lines); the holders' queue tokens are locked `FOR SHARE`
//!    (`tokens.rs`); the seats still taken are read (`taken_seats`);
//! 5. the holders' seat counts under unexpired holds.
//!
//! Then, in arrival order, each hold is judged by the domain's one rule
//! ([`domain::HoldPolicy::judge_hold`]), with seats granted earlier in the batch counted as
//! taken and as held. The granted ones are inserted with two statements and read back. The
//! partial unique index `reservation_seats_one_live` still backs "one live line per seat": if
//! anything fires that the locks should have made impossible, the batch rolls back and each hold
//! runs again as a batch of one, so one hold can never fail the others.

use super::read;
use crate::db::{Db, TxFuture};
use crate::errors::{unique_violation, Fail};
use crate::locks;
use crate::requests::{HoldAnswer, HoldRequest};
use crate::rows::micros;
use crate::tokens::{lock_tokens, TokenLock};
use diesel::sql_types::{Array, BigInt, Integer, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::{HoldFacts, HoldSeatsError, SeatId, StoreError};
use futures::FutureExt;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// Step 1: `$1` schedule ids; each open one with its concert.
const OPEN_SCHEDULES: &str = "\
    SELECT id AS key, concert_id AS value FROM schedules WHERE id = ANY($1) AND starts_at > now() \
    ORDER BY id FOR KEY SHARE";

/// Step 2: `$1` lock class, `$2` user ids.
const LOCK_USERS: &str = "\
    SELECT pg_advisory_xact_lock($1, h) FROM ( \
        SELECT DISTINCT hashtext(u::text) AS h FROM unnest($2::bigint[]) AS k(u) ORDER BY 1) s";

/// Step 3: `$1` seat ids, in ascending id order.
const LOCK_SEATS: &str = "\
    SELECT id, schedule_id FROM seats WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE";

/// Step 3 in a test's negative control for lock order only (cargo feature `negative-controls`;
/// never in the service binary).
#[cfg(feature = "negative-controls")]
const LOCK_SEATS_DESCENDING: &str = "/* NEGATIVE-CONTROL: lock order */ \
    SELECT id, schedule_id FROM seats WHERE id = ANY($1) ORDER BY id DESC FOR NO KEY UPDATE";

/// Step 4: lapsed holds on seats `$1` give them up (migration `2025-01-04-000000_sold_once`).
const RELEASE_LAPSED: &str = "SELECT release_lapsed_holds($1) AS value";

/// Step 4: the seats among `$1` that are sold or under an unexpired hold.
const TAKEN_SEATS: &str = "SELECT seat AS value FROM taken_seats($1) AS t(seat) ORDER BY 1";

/// Step 5: `$1` user ids.
const HELD_COUNTS: &str = include_str!("sql/held_counts.sql");

/// The granted holds.
const INSERT_RESERVATIONS: &str = include_str!("sql/hold_insert_reservations.sql");

/// The granted holds' lines.
const INSERT_LINES: &str = include_str!("sql/hold_insert_lines.sql");

#[derive(QueryableByName)]
struct LockedSeat {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    schedule_id: i64,
}

/// A `(key, value)` row of two bigints.
#[derive(QueryableByName)]
struct KeyValue {
    #[diesel(sql_type = BigInt)]
    key: i64,
    #[diesel(sql_type = BigInt)]
    value: i64,
}

/// A single `bigint` column.
#[derive(QueryableByName)]
struct Value {
    #[diesel(sql_type = BigInt)]
    value: i64,
}

/// The holds of one batch, in one transaction; each run again as a batch of one if the batch
/// fails on something its locks should have made impossible.
pub(crate) async fn holds_batch(
    db: Db,
    requests: Vec<HoldRequest>,
) -> Result<Vec<HoldAnswer>, StoreError> {
    let order = SeatOrder::of(&db);
    let batch = db
        .transaction(|conn| hold_transaction(conn, order, requests.clone()).boxed())
        .await;
    let failure = match batch {
        Ok(answers) => return Ok(answers),
        Err(failure) => failure,
    };
    if let [request] = requests.as_slice() {
        return Ok(vec![Err(alone_failed(failure, request))]);
    }
    let why = failure.into_error();
    if matches!(why, StoreError::Unavailable(_)) {
        return Err(why);
    }
    tracing::warn!(error = %why, holds = requests.len(), "hold batch failed; running each alone");
    let mut answers = Vec::with_capacity(requests.len());
    for request in requests {
        let order = SeatOrder::of(&db);
        let alone = db
            .transaction(|conn| hold_transaction(conn, order, vec![request.clone()]).boxed())
            .await;
        answers.push(match alone {
            Ok(mut answer) => answer.pop().unwrap_or_else(|| Err(unanswered())),
            Err(failure) => Err(alone_failed(failure, &request)),
        });
    }
    Ok(answers)
}

/// The answer of a hold whose batch of one failed: the unique index that backs "one live line
/// per seat" (unreachable with the seat locks) still answers as the rule would.
fn alone_failed(failure: Fail<StoreError>, request: &HoldRequest) -> HoldSeatsError {
    match &failure {
        Fail::Db(e) if unique_violation(e) == Some("reservation_seats_one_live") => {
            HoldSeatsError::SeatUnavailable {
                seats: request.hold.seats.ids().to_vec(),
            }
        }
        _ => failure.into_error().into(),
    }
}

fn unanswered() -> HoldSeatsError {
    StoreError::Internal("hold left unanswered".into()).into()
}

/// The requests still undecided.
struct Pending<'r> {
    requests: &'r [HoldRequest],
    answers: Vec<Option<HoldAnswer>>,
}

impl<'r> Pending<'r> {
    fn new(requests: &'r [HoldRequest]) -> Self {
        Self {
            requests,
            answers: vec![None; requests.len()],
        }
    }

    /// The indexes of the holds not decided yet.
    fn open(&self) -> Vec<usize> {
        (0..self.requests.len())
            .filter(|&i| self.answers[i].is_none())
            .collect()
    }

    fn seats(&self, i: usize) -> impl Iterator<Item = i64> + 'r {
        self.requests[i].hold.seats.ids().iter().map(|s| s.get())
    }

    /// The distinct seats of the open holds, in ascending order.
    fn open_seats(&self) -> Vec<i64> {
        let mut seats: Vec<i64> = self
            .open()
            .into_iter()
            .flat_map(|i| self.seats(i))
            .collect();
        seats.sort_unstable();
        seats.dedup();
        seats
    }

    fn answers(self) -> Vec<HoldAnswer> {
        self.answers
            .into_iter()
            .map(|a| a.unwrap_or_else(|| Err(unanswered())))
            .collect()
    }
}

/// Steps 1-5, the decisions, the inserts and the read-back.
fn hold_transaction(
    conn: &mut AsyncPgConnection,
    order: SeatOrder,
    requests: Vec<HoldRequest>,
) -> TxFuture<'_, Vec<HoldAnswer>, StoreError> {
    Box::pin(async move {
        let mut pending = Pending::new(&requests);
        let concert_of = open_schedules(conn, &mut pending).await?;
        if pending.open().is_empty() {
            return Ok(pending.answers());
        }
        let users: Vec<i64> = pending
            .open()
            .iter()
            .map(|&i| requests[i].hold.user_id.get())
            .collect();
        crate::sql::sql_query(LOCK_USERS)
            .bind::<Integer, _>(locks::USER_HOLDS)
            .bind::<Array<BigInt>, _>(users.clone())
            .execute(conn)
            .await?;
        let seats = pending.open_seats();
        let schedule_of = lock_seats(conn, order, &seats).await?;
        crate::sql::sql_query(RELEASE_LAPSED)
            .bind::<Array<BigInt>, _>(seats.clone())
            .execute(conn)
            .await?;
        let token_ids: Vec<Uuid> = pending
            .open()
            .iter()
            .map(|&i| requests[i].hold.queue_token.get())
            .collect();
        let tokens = lock_tokens(conn, &token_ids, TokenLock::Share).await?;
        let taken: Vec<Value> = crate::sql::sql_query(TAKEN_SEATS)
            .bind::<Array<BigInt>, _>(seats)
            .load(conn)
            .await?;
        let mut taken: HashSet<i64> = taken.into_iter().map(|t| t.value).collect();
        let counts: Vec<KeyValue> = crate::sql::sql_query(HELD_COUNTS)
            .bind::<Array<BigInt>, _>(users)
            .load(conn)
            .await?;
        let mut held: HashMap<i64, i64> = counts.into_iter().map(|c| (c.key, c.value)).collect();

        // Judge in arrival order; what one grants, the next ones see as taken and held.
        let mut granted = Vec::new();
        for i in pending.open() {
            let HoldRequest { hold, policy } = &requests[i];
            let user = hold.user_id.get();
            let schedule = hold.schedule_id.get();
            let concert = concert_of.get(&schedule).copied().unwrap_or(0);
            let facts = HoldFacts {
                missing_seat: hold
                    .seats
                    .ids()
                    .iter()
                    .find(|s| schedule_of.get(&s.get()) != Some(&schedule))
                    .copied(),
                token_admits: tokens.admit(hold.queue_token.get(), user, concert),
                unavailable: hold
                    .seats
                    .ids()
                    .iter()
                    .filter(|s| taken.contains(&s.get()))
                    .copied()
                    .collect::<Vec<SeatId>>(),
                seats_held: usize::try_from(held.get(&user).copied().unwrap_or(0))
                    .unwrap_or(usize::MAX),
                seats_wanted: hold.seats.len(),
            };
            if let Err(refused) = policy.judge_hold(facts) {
                pending.answers[i] = Some(Err(refused));
                continue;
            }
            taken.extend(pending.seats(i));
            *held.entry(user).or_insert(0) += i64::try_from(hold.seats.len()).unwrap_or(0);
            granted.push(i);
        }
        if granted.is_empty() {
            return Ok(pending.answers());
        }
        insert(conn, &requests, &granted).await?;
        let ids: Vec<Uuid> = granted
            .iter()
            .map(|&i| requests[i].hold.reservation_id.get())
            .collect();
        let mut made = read::by_ids(conn, &ids).await?;
        for &i in &granted {
            pending.answers[i] = Some(
                made.remove(&requests[i].hold.reservation_id.get())
                    .ok_or_else(|| StoreError::Internal("new reservation vanished".into()).into()),
            );
        }
        Ok(pending.answers())
    })
}

/// Step 1: answers holds of unknown or started schedules; the open ones' concerts.
async fn open_schedules(
    conn: &mut AsyncPgConnection,
    pending: &mut Pending<'_>,
) -> diesel::QueryResult<HashMap<i64, i64>> {
    let mut schedules: Vec<i64> = pending
        .requests
        .iter()
        .map(|r| r.hold.schedule_id.get())
        .collect();
    schedules.sort_unstable();
    schedules.dedup();
    let open: Vec<KeyValue> = crate::sql::sql_query(OPEN_SCHEDULES)
        .bind::<Array<BigInt>, _>(schedules)
        .load(conn)
        .await?;
    let concert_of: HashMap<i64, i64> = open.into_iter().map(|r| (r.key, r.value)).collect();
    for (i, request) in pending.requests.iter().enumerate() {
        if !concert_of.contains_key(&request.hold.schedule_id.get()) {
            pending.answers[i] = Some(Err(HoldSeatsError::ScheduleNotFound));
        }
    }
    Ok(concert_of)
}

/// The order a transaction locks its seats in.
#[derive(Debug, Clone, Copy)]
enum SeatOrder {
    /// Ascending id order: what every hold does.
    Ascending,
    /// Descending: a test's negative control for lock order only.
    #[cfg(feature = "negative-controls")]
    Descending,
}

impl SeatOrder {
    /// Ascending, unless a test switched the lock-order guard off (then every second
    /// transaction's order is descending).
    fn of(db: &Db) -> Self {
        #[cfg(feature = "negative-controls")]
        if db.seat_locks_descending() {
            return Self::Descending;
        }
        let _ = db;
        Self::Ascending
    }

    const fn sql(self) -> &'static str {
        match self {
            Self::Ascending => LOCK_SEATS,
            #[cfg(feature = "negative-controls")]
            Self::Descending => LOCK_SEATS_DESCENDING,
        }
    }
}

/// Step 3: locks `seats` (the open holds' seats, ascending) and returns each one's schedule.
async fn lock_seats(
    conn: &mut AsyncPgConnection,
    order: SeatOrder,
    seats: &[i64],
) -> diesel::QueryResult<HashMap<i64, i64>> {
    let locked: Vec<LockedSeat> = crate::sql::sql_query(order.sql())
        .bind::<Array<BigInt>, _>(seats.to_vec())
        .load(conn)
        .await?;
    Ok(locked.into_iter().map(|s| (s.id, s.schedule_id)).collect())
}

/// Inserts the `granted` holds and their lines (two statements for all of them).
async fn insert(
    conn: &mut AsyncPgConnection,
    requests: &[HoldRequest],
    granted: &[usize],
) -> diesel::QueryResult<()> {
    let column = |f: &dyn Fn(&HoldRequest) -> i64| -> Vec<i64> {
        granted.iter().map(|&i| f(&requests[i])).collect()
    };
    let (mut line_reservations, mut line_seats) = (Vec::new(), Vec::new());
    for &i in granted {
        for seat in requests[i].hold.seats.ids() {
            line_reservations.push(requests[i].hold.reservation_id.get());
            line_seats.push(seat.get());
        }
    }
    crate::sql::sql_query(INSERT_RESERVATIONS)
        .bind::<Array<SqlUuid>, _>(
            granted
                .iter()
                .map(|&i| requests[i].hold.reservation_id.get())
                .collect::<Vec<_>>(),
        )
        .bind::<Array<BigInt>, _>(column(&|r| r.hold.user_id.get()))
        .bind::<Array<BigInt>, _>(column(&|r| r.hold.schedule_id.get()))
        .bind::<Array<BigInt>, _>(column(&|r| micros(r.policy.ttl())))
        .bind::<Array<SqlUuid>, _>(line_reservations.clone())
        .bind::<Array<BigInt>, _>(line_seats.clone())
        .execute(conn)
        .await?;
    crate::sql::sql_query(INSERT_LINES)
        .bind::<Array<SqlUuid>, _>(line_reservations)
        .bind::<Array<BigInt>, _>(line_seats)
        .execute(conn)
        .await?;
    Ok(())
}
