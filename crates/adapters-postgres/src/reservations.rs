//! [`ReservationStore`]: seat holds.
//!
//! A hold is one transaction: it checks the schedule (unknown or started → not found), takes the
//! user's advisory lock (so the per-user cap cannot be raced), locks the seat rows in ascending id
//! order (`FOR NO KEY UPDATE … ORDER BY id`, so opposite-order holds queue instead of deadlocking),
//! expires any hold on those seats whose time ran out, checks that no live line remains, checks
//! the cap, and inserts the reservation and its lines. The partial unique index
//! `reservation_seats_one_live` would catch any race this missed.

use crate::batched::distinct;
use crate::errors::{unique_violation, Fail};
use crate::locks;
use crate::pool::{PgStore, Reader};
use crate::rows::{micros, seat_id, Int8, LineRow, LockedToken, ReservationRow};
use async_trait::async_trait;
use diesel::sql_types::{Array, BigInt, Integer, Nullable, Timestamptz, Uuid as SqlUuid};
use diesel::OptionalExtension;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::guards::{Guard, Guards};
use domain::ports::{NewHold, ReservationStore};
use domain::{
    CancelError, HoldPolicy, HoldSeatsError, Page, PageRequest, QueueAccessError, Reservation,
    ReservationId, ReservedSeat, SeatId, StoreError, UserId,
};
use futures::FutureExt;
use std::collections::HashMap;
use uuid::Uuid;

/// Reservation headers with the effective status. Append a WHERE on `r`.
pub(crate) const RESERVATION: &str = "\
    SELECT r.id, r.user_id, r.schedule_id, s.concert_id, \
        CASE WHEN r.status = 'HELD' AND r.held_until <= now() THEN 'EXPIRED' ELSE r.status END \
            AS status, \
        r.total_price, r.held_until, r.created_at \
    FROM reservations r JOIN schedules s ON s.id = r.schedule_id";

/// Loads the seats of `rows` and assembles the reservations, in the order of `rows`.
pub(crate) async fn with_lines(
    conn: &mut AsyncPgConnection,
    rows: Vec<ReservationRow>,
) -> Result<Vec<Reservation>, Fail<StoreError>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let lines: Vec<LineRow> = crate::sql::sql_query(
        "SELECT rs.reservation_id, rs.seat_id, st.number, rs.price \
         FROM reservation_seats rs JOIN seats st ON st.id = rs.seat_id \
         WHERE rs.reservation_id = ANY($1) ORDER BY rs.reservation_id, rs.seat_id",
    )
    .bind::<Array<SqlUuid>, _>(&ids)
    .load(conn)
    .await?;
    let mut by_reservation: HashMap<Uuid, Vec<ReservedSeat>> = HashMap::new();
    for line in lines {
        let id = line.reservation_id;
        by_reservation
            .entry(id)
            .or_default()
            .push(line.into_domain().map_err(Fail::Store)?);
    }
    rows.into_iter()
        .map(|r| {
            let lines = by_reservation.remove(&r.id).unwrap_or_default();
            r.into_domain(lines).map_err(Fail::Store)
        })
        .collect()
}

/// One reservation of the user (any status), or `None`.
pub(crate) async fn reservation_of(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    id: Uuid,
) -> Result<Option<Reservation>, Fail<StoreError>> {
    let rows: Vec<ReservationRow> =
        crate::sql::sql_query(format!("{RESERVATION} WHERE r.id = $1 AND r.user_id = $2"))
            .bind::<SqlUuid, _>(id)
            .bind::<BigInt, _>(user_id.get())
            .load(conn)
            .await?;
    Ok(with_lines(conn, rows).await?.into_iter().next())
}

/// The reservations of one batch (headers, then lines: two statements on one connection; the
/// lines of a reservation never change once written), each only for its own holder.
pub(crate) async fn reservations_batch(
    reader: Reader,
    keys: Vec<(i64, Uuid)>,
) -> Result<Vec<Option<Reservation>>, StoreError> {
    let (ids, _) = distinct(&keys.iter().map(|k| k.1).collect::<Vec<_>>());
    let found = reader
        .read(|conn| {
            let ids = ids.clone();
            Box::pin(async move {
                let rows: Vec<ReservationRow> =
                    crate::sql::sql_query(format!("{RESERVATION} WHERE r.id = ANY($1)"))
                        .bind::<Array<SqlUuid>, _>(ids)
                        .load(conn)
                        .await?;
                Ok(with_lines(conn, rows).await)
            })
        })
        .await?
        .map_err(Fail::into_error)?;
    let by_id: HashMap<Uuid, Reservation> = found.into_iter().map(|r| (r.id.get(), r)).collect();
    Ok(keys
        .iter()
        .map(|(user, id)| by_id.get(id).filter(|r| r.user_id.get() == *user).cloned())
        .collect())
}

fn store<E: From<StoreError>>(e: Fail<StoreError>) -> Fail<E> {
    match e {
        Fail::Db(e) => Fail::Db(e),
        Fail::Store(e) | Fail::Biz(e) => Fail::Store(e),
    }
}

/// Seats of `seats` that have a live line right now (sold, or held and unexpired).
pub(crate) async fn taken_seats(
    conn: &mut AsyncPgConnection,
    seats: &[i64],
) -> Result<Vec<SeatId>, Fail<HoldSeatsError>> {
    let taken: Vec<Int8> = crate::sql::sql_query(
        "SELECT rs.seat_id AS value FROM reservation_seats rs \
         JOIN reservations r ON r.id = rs.reservation_id \
         WHERE rs.seat_id = ANY($1) AND rs.live \
           AND (r.status = 'CONFIRMED' OR (r.status = 'HELD' AND r.held_until > now())) \
         ORDER BY rs.seat_id",
    )
    .bind::<Array<BigInt>, _>(seats)
    .load(conn)
    .await?;
    taken
        .into_iter()
        .map(|t| seat_id(t.value).map_err(Fail::Store))
        .collect()
}

/// Locks the seats of `schedule` in `seats` (as [`hold_tx`] does) and returns their ids.
/// With [`Guard::LockOrder`] off (tests only), even user ids lock in descending order.
async fn lock_seats(
    conn: &mut AsyncPgConnection,
    hold: &NewHold,
    seats: &[i64],
    guards: Guards,
) -> diesel::QueryResult<Vec<Int8>> {
    let sql = if guards.on(Guard::LockOrder) || hold.user_id.get() % 2 == 1 {
        "SELECT id AS value FROM seats WHERE schedule_id = $1 AND id = ANY($2) \
         ORDER BY id FOR NO KEY UPDATE"
    } else {
        "SELECT id AS value FROM seats WHERE schedule_id = $1 AND id = ANY($2) \
         ORDER BY id DESC FOR NO KEY UPDATE"
    };
    crate::sql::sql_query(sql)
        .bind::<BigInt, _>(hold.schedule_id.get())
        .bind::<Array<BigInt>, _>(seats)
        .load(conn)
        .await
}

pub(crate) async fn hold_tx(
    conn: &mut AsyncPgConnection,
    hold: &NewHold,
    policy: HoldPolicy,
    guards: Guards,
) -> Result<Reservation, Fail<HoldSeatsError>> {
    let seats: Vec<i64> = hold.seats.ids().iter().map(|s| s.get()).collect();
    let concert: Option<Int8> = crate::sql::sql_query(
        "SELECT concert_id AS value FROM schedules WHERE id = $1 AND starts_at > now() \
         FOR KEY SHARE",
    )
    .bind::<BigInt, _>(hold.schedule_id.get())
    .get_result(conn)
    .await
    .optional()?;
    let Some(concert) = concert else {
        return Err(Fail::Biz(HoldSeatsError::ScheduleNotFound));
    };
    // The user's holds one at a time: the cap check below cannot be raced.
    crate::sql::sql_query("SELECT pg_advisory_xact_lock($1, hashtext($2::text))")
        .bind::<Integer, _>(locks::USER_HOLDS)
        .bind::<BigInt, _>(hold.user_id.get())
        .execute(conn)
        .await?;
    // Lock the seats in ascending id order: holds of overlapping seats queue, never deadlock.
    let locked = lock_seats(conn, hold, &seats, guards).await?;
    if locked.len() != seats.len() {
        let found: std::collections::HashSet<i64> = locked.iter().map(|l| l.value).collect();
        let missing = hold
            .seats
            .ids()
            .iter()
            .find(|s| !found.contains(&s.get()))
            .copied();
        return Err(match missing {
            Some(seat) => Fail::Biz(HoldSeatsError::SeatNotFound(seat)),
            None => Fail::Store(StoreError::Internal("seat lock count mismatch".into())),
        });
    }
    if guards.on(Guard::SeatAvailability) {
        release_lapsed(conn, &seats).await?;
    }
    let tokens = lock_tokens(conn, &[hold.queue_token.get()]).await?;
    if !token_admits(&tokens, hold, concert.value) {
        return Err(Fail::Biz(QueueAccessError::NotActive.into()));
    }
    if guards.on(Guard::SeatAvailability) {
        let taken = taken_seats(conn, &seats).await?;
        if !taken.is_empty() {
            return Err(Fail::Biz(HoldSeatsError::SeatUnavailable { seats: taken }));
        }
    }
    insert_hold(conn, hold, policy, &seats).await
}

/// The holders' tokens: `$1` token ids. Locked `FOR SHARE`, in id order, after the reservations
/// a hold locks (as a payment locks its reservation before its token): a payment that spends
/// one, or a sweep that expires one, is waited for and its result seen. The window is judged by
/// `token_active` once the lock is held.
const TOKENS: &str = "\
    SELECT t.id, t.user_id, t.concert_id, token_active(t.status, t.active_until) AS active \
    FROM (SELECT id, user_id, concert_id, status, active_until FROM queue_tokens \
          WHERE id = ANY($1) ORDER BY id FOR SHARE) t";

/// `tokens`, locked (see [`TOKENS`]), by id.
pub(crate) async fn lock_tokens(
    conn: &mut AsyncPgConnection,
    tokens: &[Uuid],
) -> diesel::QueryResult<HashMap<Uuid, LockedToken>> {
    let mut ids = tokens.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let rows: Vec<LockedToken> = crate::sql::sql_query(TOKENS)
        .bind::<Array<SqlUuid>, _>(ids)
        .load(conn)
        .await?;
    Ok(rows.into_iter().map(|t| (t.id, t)).collect())
}

/// Whether `hold`'s token, among `locked`, lets the holder in for `concert`.
pub(crate) fn token_admits(
    locked: &HashMap<Uuid, LockedToken>,
    hold: &NewHold,
    concert: i64,
) -> bool {
    locked
        .get(&hold.queue_token.get())
        .is_some_and(|t| t.admits(hold.user_id.get(), concert))
}

/// Holds on `seats` whose time ran out give those seats up now: the SQL function
/// `release_lapsed_holds` (migration `2025-01-04-000000_sold_once`) locks those reservations in
/// id order (as the expiry sweep, cancel and payments lock a reservation before its lines) and
/// moves them to EXPIRED, whose trigger releases their lines. A reservation is never left HELD
/// with a released line, so a payment that reaches its lock afterwards finds it EXPIRED.
pub(crate) async fn release_lapsed(
    conn: &mut AsyncPgConnection,
    seats: &[i64],
) -> diesel::QueryResult<()> {
    crate::sql::sql_query("SELECT release_lapsed_holds($1) AS value")
        .bind::<Array<BigInt>, _>(seats)
        .execute(conn)
        .await?;
    Ok(())
}

/// Checks the per-user cap, then inserts the reservation and its lines.
async fn insert_hold(
    conn: &mut AsyncPgConnection,
    hold: &NewHold,
    policy: HoldPolicy,
    seats: &[i64],
) -> Result<Reservation, Fail<HoldSeatsError>> {
    let held: Int8 = crate::sql::sql_query(
        "SELECT count(*) AS value FROM reservation_seats rs \
         JOIN reservations r ON r.id = rs.reservation_id \
         WHERE r.user_id = $1 AND r.status = 'HELD' AND r.held_until > now()",
    )
    .bind::<BigInt, _>(hold.user_id.get())
    .get_result(conn)
    .await?;
    let would_hold = u32::try_from(held.value)
        .unwrap_or(u32::MAX)
        .saturating_add(u32::try_from(seats.len()).unwrap_or(u32::MAX));
    if would_hold > policy.max_seats_held_per_user() {
        return Err(Fail::Biz(HoldSeatsError::HoldLimitExceeded {
            would_hold,
            limit: policy.max_seats_held_per_user(),
        }));
    }
    crate::sql::sql_query(
        "INSERT INTO reservations (id, user_id, schedule_id, status, total_price, held_until) \
         SELECT $1, $2, $3, 'HELD', coalesce(sum(price), 0), \
                now() + $5::float8 * interval '1 microsecond' \
         FROM seats WHERE id = ANY($4)",
    )
    .bind::<SqlUuid, _>(hold.reservation_id.get())
    .bind::<BigInt, _>(hold.user_id.get())
    .bind::<BigInt, _>(hold.schedule_id.get())
    .bind::<Array<BigInt>, _>(seats)
    .bind::<BigInt, _>(micros(policy.ttl()))
    .execute(conn)
    .await?;
    let inserted = crate::sql::sql_query(
        "INSERT INTO reservation_seats (reservation_id, schedule_id, seat_id, price) \
         SELECT $1, schedule_id, id, price FROM seats WHERE id = ANY($2) ORDER BY id",
    )
    .bind::<SqlUuid, _>(hold.reservation_id.get())
    .bind::<Array<BigInt>, _>(seats)
    .execute(conn)
    .await;
    match inserted {
        Ok(_) => {}
        Err(e) if unique_violation(&e) == Some("reservation_seats_one_live") => {
            // Unreachable with the seat locks above; the index is the last line of defence.
            return Err(Fail::Biz(HoldSeatsError::SeatUnavailable {
                seats: hold.seats.ids().to_vec(),
            }));
        }
        Err(e) => return Err(e.into()),
    }
    reservation_of(conn, hold.user_id, hold.reservation_id.get())
        .await
        .map_err(store)?
        .ok_or_else(|| Fail::Store(StoreError::Internal("new reservation vanished".into())))
}

#[async_trait]
impl ReservationStore for PgStore {
    async fn hold(&self, hold: NewHold, policy: HoldPolicy) -> Result<Reservation, HoldSeatsError> {
        let guards = self.guards;
        if guards.on(Guard::LockOrder) {
            // Coalesced with the other holds waiting now (see `hold_batch.rs`).
            return self.batches.holds.call((hold, policy, guards)).await?;
        }
        // A test's negative control for lock order: one transaction per hold.
        self.tx(|conn| {
            let hold = hold.clone();
            Box::pin(async move { hold_tx(conn, &hold, policy, guards).await })
        })
        .await
        .map_err(Fail::into_error)
    }

    async fn reservation(
        &self,
        user_id: UserId,
        id: ReservationId,
    ) -> Result<Option<Reservation>, StoreError> {
        self.batches
            .reservations
            .call((user_id.get(), id.get()))
            .await
    }

    async fn reservations(
        &self,
        user_id: UserId,
        page: PageRequest,
    ) -> Result<Page<Reservation>, StoreError> {
        let items = self
            .tx(|conn| {
                Box::pin(async move {
                    let (after_at, after_id) = page
                        .after()
                        .map_or((None, None), |c| (Some(c.created_at), Some(c.id)));
                    let rows: Vec<ReservationRow> = crate::sql::sql_query(format!(
                        "{RESERVATION} WHERE r.user_id = $1 \
                           AND ($2::timestamptz IS NULL OR (r.created_at, r.id) < ($2, $3)) \
                         ORDER BY r.created_at DESC, r.id DESC LIMIT $4"
                    ))
                    .bind::<BigInt, _>(user_id.get())
                    .bind::<Nullable<Timestamptz>, _>(after_at)
                    .bind::<Nullable<SqlUuid>, _>(after_id)
                    .bind::<BigInt, _>(i64::from(page.limit()) + 1)
                    .load(conn)
                    .await?;
                    with_lines(conn, rows).await
                })
            })
            .await
            .map_err(Fail::into_error)?;
        Ok(Page::from_overfetch(items, page.limit(), |r| {
            domain::Cursor {
                created_at: r.created_at,
                id: r.id.get(),
            }
        }))
    }

    async fn cancel(&self, user_id: UserId, id: ReservationId) -> Result<Reservation, CancelError> {
        self.tx(|conn| {
            Box::pin(async move {
                let cancelled = crate::sql::sql_query(
                    "UPDATE reservations SET status = 'CANCELLED' \
                     WHERE id = $1 AND user_id = $2 AND status = 'HELD' AND held_until > now()",
                )
                .bind::<SqlUuid, _>(id.get())
                .bind::<BigInt, _>(user_id.get())
                .execute(conn)
                .await?;
                let current = reservation_of(conn, user_id, id.get())
                    .await
                    .map_err(store)?;
                match current {
                    None => Err(Fail::Biz(CancelError::NotFound)),
                    Some(r) if cancelled == 1 => Ok(r),
                    Some(r) => Err(Fail::Biz(CancelError::NotCancellable(r.status))),
                }
            })
        })
        .await
        .map_err(Fail::into_error)
    }

    async fn expire_holds(&self, batch: u32) -> Result<u64, StoreError> {
        let n = self
            .tx(|conn| {
                // The batch size is written into the text (a fixed setting): a cached generic
                // plan of `LIMIT $1` would plan for a tenth of the table.
                crate::sql::sql_query(format!(
                    "UPDATE reservations SET status = 'EXPIRED' WHERE id IN ( \
                        SELECT id FROM reservations \
                        WHERE status = 'HELD' AND held_until <= now() \
                        ORDER BY held_until LIMIT {batch} FOR UPDATE SKIP LOCKED)"
                ))
                .execute(conn)
                .map(|r| r.map_err(Fail::Db))
                .boxed()
            })
            .await
            .map_err(Fail::<StoreError>::into_error)?;
        Ok(n as u64)
    }
}
