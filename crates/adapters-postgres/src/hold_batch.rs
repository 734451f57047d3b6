//! Seat holds, coalesced: the holds waiting at one moment become one transaction of a fixed
//! number of statements, however many holds it carries.
//!
//! One hold alone (`reservations.rs`, `hold_tx`) is twelve round trips. A batch does each step
//! once, set-wise, for all its holds:
//!
//! 1. the schedules that exist and have not started (`FOR KEY SHARE`);
//! 2. the holders' advisory locks, in one sorted order (the per-user cap cannot be raced);
//! 3. every requested seat, locked in ascending id order (`FOR NO KEY UPDATE`): two batches, or
//!    a batch and a single hold, queue on a seat and never deadlock, since everyone takes user
//!    locks first and seat locks in id order after;
//! 4. lapsed holds on those seats are expired (their seats released); the holders' queue tokens
//!    are locked `FOR SHARE` and must still be ACTIVE, theirs, for the schedule's concert; the
//!    seats still taken are read;
//! 5. the holders' seat counts under unexpired holds.
//!
//! Then, in arrival order, each hold is decided exactly as alone: not found, token not active,
//! unavailable (taken
//! in the database, or by an earlier hold of this batch), over the cap, or granted. The granted
//! ones are inserted with two statements and read back with two more. The partial unique index
//! `reservation_seats_one_live` still backs "one live line per seat": if anything fires that the
//! locks should have made impossible, the batch rolls back and each hold is settled alone, so one
//! hold can never fail the others.

use crate::errors::Fail;
use crate::locks;
use crate::pool::{Reader, TxFuture, MAX_ATTEMPTS};
use crate::reservations::{
    hold_tx, lock_tokens, release_lapsed, taken_seats, token_admits, with_lines, RESERVATION,
};
use crate::rows::{micros, ReservationRow};
use diesel::sql_types::{Array, BigInt, Integer, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::guards::{Guard, Guards};
use domain::ports::NewHold;
use domain::{HoldPolicy, HoldSeatsError, QueueAccessError, Reservation, SeatId, StoreError};
use futures::FutureExt;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// A hold, the policy it is judged by, and the store's guards.
pub(crate) type HoldKey = (NewHold, HoldPolicy, Guards);

/// A hold's answer.
pub(crate) type HoldAnswer = Result<Reservation, HoldSeatsError>;

/// Step 1: `$1` schedule ids; each open one with its concert.
const OPEN_SCHEDULES: &str = "\
    SELECT id AS key, concert_id AS value FROM schedules WHERE id = ANY($1) AND starts_at > now() \
    ORDER BY id FOR KEY SHARE";

/// Step 2: `$1` lock class, `$2` user ids (a hold alone takes the same lock).
const LOCK_USERS: &str = "\
    SELECT pg_advisory_xact_lock($1, h) FROM ( \
        SELECT DISTINCT hashtext(u::text) AS h FROM unnest($2::bigint[]) AS k(u) ORDER BY 1) s";

/// Step 3: `$1` seat ids.
const LOCK_SEATS: &str = "\
    SELECT id, schedule_id FROM seats WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE";

/// Step 5: `$1` user ids.
const HELD_COUNTS: &str = "\
    SELECT r.user_id AS key, count(*) AS value FROM reservation_seats rs \
    JOIN reservations r ON r.id = rs.reservation_id \
    WHERE r.user_id = ANY($1) AND r.status = 'HELD' AND r.held_until > now() \
    GROUP BY r.user_id";

/// The granted holds: `$1` ids, `$2` users, `$3` schedules, `$4` TTLs (µs); `$5`/`$6` every
/// line's reservation and seat (the price total comes from the seats).
const INSERT_RESERVATIONS: &str = "\
    INSERT INTO reservations (id, user_id, schedule_id, status, total_price, held_until) \
    SELECT k.id, k.u, k.s, 'HELD', t.total, now() + k.ttl::float8 * interval '1 microsecond' \
    FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::bigint[]) AS k(id, u, s, ttl) \
    JOIN (SELECT l.r, sum(st.price) AS total \
          FROM unnest($5::uuid[], $6::bigint[]) AS l(r, seat) JOIN seats st ON st.id = l.seat \
          WHERE st.id = ANY($6) GROUP BY l.r) t ON t.r = k.id";

/// The granted holds' lines: `$1` reservations, `$2` seats.
const INSERT_LINES: &str = "\
    INSERT INTO reservation_seats (reservation_id, schedule_id, seat_id, price) \
    SELECT l.r, st.schedule_id, st.id, st.price \
    FROM unnest($1::uuid[], $2::bigint[]) AS l(r, seat) JOIN seats st ON st.id = l.seat \
    WHERE st.id = ANY($2) ORDER BY st.id";

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

/// The holds of one batch, in one transaction; each settled alone if the batch fails on a
/// constraint.
pub(crate) async fn holds_batch(
    reader: Reader,
    keys: Vec<HoldKey>,
) -> Result<Vec<HoldAnswer>, StoreError> {
    let batch = reader
        .tx(MAX_ATTEMPTS, |conn| holds_tx(conn, keys.clone()).boxed())
        .await;
    let why = match batch {
        Ok(answers) => return Ok(answers),
        Err(failure) => failure.into_error(),
    };
    if matches!(why, StoreError::Unavailable(_)) || keys.len() == 1 {
        return Err(why);
    }
    tracing::warn!(error = %why, holds = keys.len(), "hold batch failed; settling each alone");
    let mut answers = Vec::with_capacity(keys.len());
    for (hold, policy, guards) in keys {
        answers.push(
            reader
                .tx(MAX_ATTEMPTS, |conn| {
                    let hold = hold.clone();
                    Box::pin(async move { hold_tx(conn, &hold, policy, guards).await })
                })
                .await
                .map_err(Fail::into_error),
        );
    }
    Ok(answers)
}

/// Steps 1-5, the decisions, the inserts and the read-back.
fn holds_tx(
    conn: &mut AsyncPgConnection,
    keys: Vec<HoldKey>,
) -> TxFuture<'_, Vec<HoldAnswer>, StoreError> {
    Box::pin(async move {
        let mut answers: Vec<Option<HoldAnswer>> = vec![None; keys.len()];
        let seats_of = |i: usize| keys[i].0.seats.ids().iter().map(|s| s.get());

        // 1. Open schedules.
        let mut schedules: Vec<i64> = keys.iter().map(|k| k.0.schedule_id.get()).collect();
        schedules.sort_unstable();
        schedules.dedup();
        let open: Vec<KeyValue> = crate::sql::sql_query(OPEN_SCHEDULES)
            .bind::<Array<BigInt>, _>(schedules)
            .load(conn)
            .await?;
        let concert_of: HashMap<i64, i64> = open.into_iter().map(|r| (r.key, r.value)).collect();
        for (i, key) in keys.iter().enumerate() {
            if !concert_of.contains_key(&key.0.schedule_id.get()) {
                answers[i] = Some(Err(HoldSeatsError::ScheduleNotFound));
            }
        }
        let live = |answers: &[Option<HoldAnswer>]| -> Vec<usize> {
            (0..keys.len()).filter(|&i| answers[i].is_none()).collect()
        };
        let mut pending = live(&answers);
        if pending.is_empty() {
            return Ok(settled(answers));
        }

        // 2. The holders' locks.
        let users: Vec<i64> = pending.iter().map(|&i| keys[i].0.user_id.get()).collect();
        crate::sql::sql_query(LOCK_USERS)
            .bind::<Integer, _>(locks::USER_HOLDS)
            .bind::<Array<BigInt>, _>(users.clone())
            .execute(conn)
            .await?;

        // 3. The seats, in id order.
        let mut all_seats: Vec<i64> = pending.iter().flat_map(|&i| seats_of(i)).collect();
        all_seats.sort_unstable();
        all_seats.dedup();
        let locked: Vec<LockedSeat> = crate::sql::sql_query(LOCK_SEATS)
            .bind::<Array<BigInt>, _>(all_seats)
            .load(conn)
            .await?;
        let schedule_of: HashMap<i64, i64> =
            locked.into_iter().map(|s| (s.id, s.schedule_id)).collect();
        for &i in &pending {
            let schedule = keys[i].0.schedule_id.get();
            let stranger = keys[i]
                .0
                .seats
                .ids()
                .iter()
                .find(|s| schedule_of.get(&s.get()) != Some(&schedule));
            if let Some(seat) = stranger {
                answers[i] = Some(Err(HoldSeatsError::SeatNotFound(*seat)));
            }
        }
        pending = live(&answers);
        if pending.is_empty() {
            return Ok(settled(answers));
        }

        // 4. Lapsed holds give their seats up; what is still taken.
        let guarded = |i: usize| keys[i].2.on(Guard::SeatAvailability);
        let mut checked: Vec<i64> = pending
            .iter()
            .filter(|&&i| guarded(i))
            .flat_map(|&i| seats_of(i))
            .collect();
        checked.sort_unstable();
        checked.dedup();
        if !checked.is_empty() {
            release_lapsed(conn, &checked).await?;
        }
        //    The holders' tokens, still ACTIVE and theirs for the schedule's concert.
        let tokens: Vec<Uuid> = pending
            .iter()
            .map(|&i| keys[i].0.queue_token.get())
            .collect();
        let locked = lock_tokens(conn, &tokens).await?;
        for &i in &pending {
            let hold = &keys[i].0;
            let concert = concert_of
                .get(&hold.schedule_id.get())
                .copied()
                .unwrap_or(0);
            if !token_admits(&locked, hold, concert) {
                answers[i] = Some(Err(QueueAccessError::NotActive.into()));
            }
        }
        pending = live(&answers);
        if pending.is_empty() {
            return Ok(settled(answers));
        }
        let taken: HashSet<i64> = if checked.is_empty() {
            HashSet::new()
        } else {
            taken_seats(conn, &checked)
                .await
                .map_err(store)?
                .into_iter()
                .map(SeatId::get)
                .collect()
        };

        // 5. Seats each holder already holds.
        let counts: Vec<KeyValue> = crate::sql::sql_query(HELD_COUNTS)
            .bind::<Array<BigInt>, _>(users)
            .load(conn)
            .await?;
        let mut held: HashMap<i64, i64> = counts.into_iter().map(|c| (c.key, c.value)).collect();

        // Decide in arrival order.
        let mut claimed: HashSet<i64> = HashSet::new();
        let mut granted: Vec<usize> = Vec::new();
        for &i in &pending {
            let (hold, policy, _) = &keys[i];
            if guarded(i) {
                let unavailable: Vec<SeatId> = hold
                    .seats
                    .ids()
                    .iter()
                    .filter(|s| taken.contains(&s.get()) || claimed.contains(&s.get()))
                    .copied()
                    .collect();
                if !unavailable.is_empty() {
                    answers[i] = Some(Err(HoldSeatsError::SeatUnavailable { seats: unavailable }));
                    continue;
                }
            }
            let user = hold.user_id.get();
            let already = held.get(&user).copied().unwrap_or(0);
            let wanted = hold.seats.ids().len();
            let would_hold = u32::try_from(already)
                .unwrap_or(u32::MAX)
                .saturating_add(u32::try_from(wanted).unwrap_or(u32::MAX));
            if would_hold > policy.max_seats_held_per_user() {
                answers[i] = Some(Err(HoldSeatsError::HoldLimitExceeded {
                    would_hold,
                    limit: policy.max_seats_held_per_user(),
                }));
                continue;
            }
            claimed.extend(seats_of(i));
            *held.entry(user).or_insert(0) += i64::try_from(wanted).unwrap_or(i64::MAX);
            granted.push(i);
        }
        if granted.is_empty() {
            return Ok(settled(answers));
        }

        // Insert the granted holds and read them back.
        let ids: Vec<Uuid> = granted
            .iter()
            .map(|&i| keys[i].0.reservation_id.get())
            .collect();
        let (mut line_rs, mut line_seats) = (Vec::new(), Vec::new());
        for &i in &granted {
            for seat in seats_of(i) {
                line_rs.push(keys[i].0.reservation_id.get());
                line_seats.push(seat);
            }
        }
        crate::sql::sql_query(INSERT_RESERVATIONS)
            .bind::<Array<SqlUuid>, _>(ids.clone())
            .bind::<Array<BigInt>, _>(
                granted
                    .iter()
                    .map(|&i| keys[i].0.user_id.get())
                    .collect::<Vec<_>>(),
            )
            .bind::<Array<BigInt>, _>(
                granted
                    .iter()
                    .map(|&i| keys[i].0.schedule_id.get())
                    .collect::<Vec<_>>(),
            )
            .bind::<Array<BigInt>, _>(
                granted
                    .iter()
                    .map(|&i| micros(keys[i].1.ttl()))
                    .collect::<Vec<_>>(),
            )
            .bind::<Array<SqlUuid>, _>(line_rs.clone())
            .bind::<Array<BigInt>, _>(line_seats.clone())
            .execute(conn)
            .await?;
        crate::sql::sql_query(INSERT_LINES)
            .bind::<Array<SqlUuid>, _>(line_rs)
            .bind::<Array<BigInt>, _>(line_seats)
            .execute(conn)
            .await?;
        let rows: Vec<ReservationRow> =
            crate::sql::sql_query(format!("{RESERVATION} WHERE r.id = ANY($1)"))
                .bind::<Array<SqlUuid>, _>(ids)
                .load(conn)
                .await?;
        let mut made: HashMap<Uuid, Reservation> = with_lines(conn, rows)
            .await?
            .into_iter()
            .map(|r| (r.id.get(), r))
            .collect();
        for &i in &granted {
            answers[i] = Some(
                made.remove(&keys[i].0.reservation_id.get())
                    .ok_or_else(|| StoreError::Internal("new reservation vanished".into()).into()),
            );
        }
        Ok(settled(answers))
    })
}

/// Every answer (each is set by the time this is called).
fn settled(answers: Vec<Option<HoldAnswer>>) -> Vec<HoldAnswer> {
    answers
        .into_iter()
        .map(|a| {
            a.unwrap_or_else(|| Err(StoreError::Internal("hold left unanswered".into()).into()))
        })
        .collect()
}

fn store(e: Fail<HoldSeatsError>) -> Fail<StoreError> {
    match e {
        Fail::Db(e) => Fail::Db(e),
        Fail::Store(e) => Fail::Store(e),
        Fail::Biz(e) => Fail::Store(StoreError::Internal(e.to_string())),
    }
}
