//! [`WaitlistStore`]: waiting lists for sold-out dates (migration `2025-01-10-000002_waitlists`).
//!
//! THE offer step is the SQL function `offer_waitlist_seats(schedule, ttl_ms)`: one callable
//! unit that any transaction freeing a seat of a date runs ([`offer_in_tx`]: leave here, the
//! scheduler's tick, and refunds once wired). Lock order, shared by every writer here: the
//! date's advisory lock (namespace [`locks::WAITLIST_DATE`]), then seats in id order, then
//! reservations, then entries; a payment locks a reservation before its entry too.

use crate::db::TxFuture;
use crate::errors::{bad_row, Fail};
use crate::locks;
use crate::rows::{schedule_id, seat_id, user_id};
use crate::store::PgStore;
use async_trait::async_trait;
use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::ports::WaitlistStore;
use domain::{
    effective_entry_status, effective_reservation_status, Cursor, JoinFacts, JoinVerdict,
    JoinWaitlistError, Page, PageRequest, ReservationId, ReservationStatus, ScheduleId, StoreError,
    Timestamp, UserId, WaitlistCounts, WaitlistEntry, WaitlistEntryError, WaitlistEntryId,
    WaitlistJoined, WaitlistOffer, WaitlistPolicy, WaitlistStatus,
};
use futures::FutureExt;
use uuid::Uuid;

/// Entries with what their effective status needs; a statement appends its WHERE on `w`.
const ENTRIES: &str = include_str!("sql/entries.sql");

/// A join's facts (`$1` user, `$2` date).
const JOIN_FACTS: &str = include_str!("sql/join_facts.sql");

/// Persists a user's stale offers of a date before a join (`$1` user, `$2` date).
const SETTLE_USER_OFFERS: &str = include_str!("sql/settle_user_offers.sql");

/// Serialises one user's joins to one date (`$1` lock class, `$2` user, `$3` date).
const LOCK_JOIN: &str = "SELECT pg_advisory_xact_lock($1, hashtext($2::text || ':' || $3::text))";

/// The date's offer lock (`$1` date): the one `offer_waitlist_seats` takes.
const LOCK_DATE: &str = "SELECT lock_waitlist_date($1)";

/// A new WAITING entry: `$1` id, `$2` user, `$3` date.
const INSERT_ENTRY: &str = "\
    INSERT INTO waitlist_entries (id, user_id, schedule_id, status) VALUES ($1, $2, $3, 'WAITING')";

/// THE offer step for date `$1` with an offer TTL of `$2` ms.
const OFFER: &str = "SELECT offer_waitlist_seats($1, $2) AS value";

/// The dates whose list has something to do (WAITING entries to offer to, OFFERED ones to
/// settle).
const DATES: &str = "\
    SELECT DISTINCT schedule_id AS value FROM waitlist_entries \
    WHERE status IN ('WAITING', 'OFFERED') ORDER BY 1";

/// An entry's date, owner and offer (unlocked: they never change once offered, and the offer is
/// made only under the date's lock, which the reader then takes).
const ENTRY_HEAD: &str = "\
    SELECT schedule_id AS key, user_id AS value, offer_reservation_id AS offer \
    FROM waitlist_entries WHERE id = $1";

/// Locks an offer reservation (before its entry: the payment's order).
const LOCK_RESERVATION: &str =
    "SELECT 1::bigint AS value FROM reservations WHERE id = $1 FOR NO KEY UPDATE";

/// Leaves entry `$1`: a live offer's hold is cancelled (its seat line released by the trigger),
/// and a live entry becomes LEFT. Returns whether the entry was live.
const LEAVE: &str = "\
    WITH e AS ( \
        SELECT w.id, w.offer_reservation_id FROM waitlist_entries w \
        LEFT JOIN reservations r ON r.id = w.offer_reservation_id \
        WHERE w.id = $1 AND (w.status = 'WAITING' OR (w.status = 'OFFERED' \
              AND r.status = 'HELD' AND r.held_until > now())) FOR UPDATE OF w), \
    cancelled AS ( \
        UPDATE reservations SET status = 'CANCELLED' \
        WHERE id IN (SELECT offer_reservation_id FROM e) AND status = 'HELD' \
          AND held_until > now()) \
    UPDATE waitlist_entries SET status = 'LEFT' WHERE id IN (SELECT id FROM e)";

/// One entry as read.
#[derive(Debug, QueryableByName)]
struct EntryRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = BigInt)]
    user_id: i64,
    #[diesel(sql_type = BigInt)]
    schedule_id: i64,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    position: Option<i64>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    offer_reservation_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<BigInt>)]
    offer_seat_id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    offer_status: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    offer_held_until: Option<Timestamp>,
    #[diesel(sql_type = Timestamptz)]
    created_at: Timestamp,
    #[diesel(sql_type = Timestamptz)]
    now: Timestamp,
}

/// An entry's effective status from its stored one and its offer reservation's status and
/// deadline, by the domain's rules at the database's `now`.
fn effective_status(
    status: &str,
    offer_status: Option<&str>,
    offer_held_until: Option<Timestamp>,
    now: Timestamp,
) -> Result<WaitlistStatus, StoreError> {
    let stored = WaitlistStatus::parse(status).ok_or_else(|| bad_row("entry status", status))?;
    let offer = match (offer_status, offer_held_until) {
        (Some(s), Some(until)) => Some(effective_reservation_status(
            ReservationStatus::parse(s).ok_or_else(|| bad_row("reservation status", s))?,
            until,
            now,
        )),
        _ => None,
    };
    Ok(effective_entry_status(stored, offer))
}

/// A date's entries grouped by what their effective status needs (only OFFERED ones differ by
/// deadline), with how many share it.
const COUNTS: &str = "\
    SELECT w.status, r.status AS offer_status, r.held_until AS offer_held_until, \
           now() AS now, count(*) AS n \
    FROM waitlist_entries w LEFT JOIN reservations r ON r.id = w.offer_reservation_id \
    WHERE w.schedule_id = $1 GROUP BY w.status, r.status, r.held_until";

/// Whether date `$1` exists.
const SCHEDULE_EXISTS: &str = "SELECT count(*) AS value FROM schedules WHERE id = $1";

/// One group of [`COUNTS`].
#[derive(Debug, QueryableByName)]
struct CountRow {
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Nullable<Text>)]
    offer_status: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    offer_held_until: Option<Timestamp>,
    #[diesel(sql_type = Timestamptz)]
    now: Timestamp,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// A date's counts in one snapshot; `None` for an unknown date.
fn counts_transaction(
    conn: &mut AsyncPgConnection,
    schedule: i64,
) -> TxFuture<'_, Option<WaitlistCounts>, StoreError> {
    Box::pin(async move {
        let exists: Value = crate::sql::sql_query(SCHEDULE_EXISTS)
            .bind::<BigInt, _>(schedule)
            .get_result(conn)
            .await?;
        if exists.value == 0 {
            return Ok(None);
        }
        let rows: Vec<CountRow> = crate::sql::sql_query(COUNTS)
            .bind::<BigInt, _>(schedule)
            .load(conn)
            .await?;
        let mut counts = WaitlistCounts::default();
        for row in rows {
            let status = effective_status(
                &row.status,
                row.offer_status.as_deref(),
                row.offer_held_until,
                row.now,
            )
            .map_err(Fail::Store)?;
            counts.add(status, u64::try_from(row.n).unwrap_or(0));
        }
        Ok(Some(counts))
    })
}

impl EntryRow {
    /// The entry with its effective status, by the domain's rules at the database's `now()`.
    fn into_domain(self) -> Result<WaitlistEntry, StoreError> {
        let status = effective_status(
            &self.status,
            self.offer_status.as_deref(),
            self.offer_held_until,
            self.now,
        )?;
        let offer = match (status, self.offer_reservation_id, self.offer_seat_id) {
            (WaitlistStatus::Offered, Some(r), Some(seat)) => Some(WaitlistOffer {
                reservation_id: ReservationId::from_uuid(r),
                seat_id: seat_id(seat)?,
                held_until: self
                    .offer_held_until
                    .ok_or_else(|| bad_row("offer", "no deadline"))?,
            }),
            _ => None,
        };
        Ok(WaitlistEntry {
            id: WaitlistEntryId::from_uuid(self.id),
            user_id: user_id(self.user_id)?,
            schedule_id: schedule_id(self.schedule_id)?,
            status,
            position: if status == WaitlistStatus::Waiting {
                self.position.and_then(|p| u32::try_from(p).ok())
            } else {
                None
            },
            offer,
            created_at: self.created_at,
        })
    }
}

#[derive(QueryableByName)]
struct Facts {
    #[diesel(sql_type = Bool)]
    open: bool,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    live: Option<Uuid>,
    #[diesel(sql_type = BigInt)]
    free_seats: i64,
    #[diesel(sql_type = BigInt)]
    waiting: i64,
}

#[derive(QueryableByName)]
struct Value {
    #[diesel(sql_type = BigInt)]
    value: i64,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = Integer)]
    value: i32,
}

#[derive(QueryableByName)]
struct Head {
    #[diesel(sql_type = BigInt)]
    key: i64,
    #[diesel(sql_type = BigInt)]
    value: i64,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    offer: Option<Uuid>,
}

/// THE offer step for one date inside the caller's transaction (refunds call this in theirs);
/// returns how many offers it made.
///
/// # Errors
/// The database's.
pub(crate) async fn offer_in_tx(
    conn: &mut AsyncPgConnection,
    schedule: i64,
    policy: WaitlistPolicy,
) -> diesel::QueryResult<i32> {
    let ttl_ms = i64::try_from(policy.offer_ttl().as_millis()).unwrap_or(i64::MAX);
    let made: Count = crate::sql::sql_query(OFFER)
        .bind::<BigInt, _>(schedule)
        .bind::<BigInt, _>(ttl_ms)
        .get_result(conn)
        .await?;
    Ok(made.value)
}

/// One entry by id (any owner), with its effective status.
async fn entry_by_id(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> Result<Option<WaitlistEntry>, Fail<StoreError>> {
    let rows: Vec<EntryRow> = crate::sql::sql_query(format!("{ENTRIES} WHERE w.id = $1"))
        .bind::<SqlUuid, _>(id)
        .load(conn)
        .await?;
    rows.into_iter()
        .next()
        .map(EntryRow::into_domain)
        .transpose()
        .map_err(Fail::Store)
}

/// A join: the user's lock on the date, stale offers settled, the facts judged by
/// [`JoinFacts::verdict`], then the new entry (or the live one).
fn join_transaction(
    conn: &mut AsyncPgConnection,
    user: i64,
    schedule: i64,
    entry: Uuid,
) -> TxFuture<'_, WaitlistJoined, JoinWaitlistError> {
    Box::pin(async move {
        crate::sql::sql_query(LOCK_JOIN)
            .bind::<Integer, _>(locks::WAITLIST_JOIN)
            .bind::<BigInt, _>(user)
            .bind::<BigInt, _>(schedule)
            .execute(conn)
            .await?;
        crate::sql::sql_query(SETTLE_USER_OFFERS)
            .bind::<BigInt, _>(user)
            .bind::<BigInt, _>(schedule)
            .execute(conn)
            .await?;
        let facts: Facts = crate::sql::sql_query(JOIN_FACTS)
            .bind::<BigInt, _>(user)
            .bind::<BigInt, _>(schedule)
            .get_result(conn)
            .await?;
        let verdict = JoinFacts {
            schedule_open: facts.open,
            has_live_entry: facts.live.is_some(),
            free_seats: usize::try_from(facts.free_seats).unwrap_or(usize::MAX),
            waiting: usize::try_from(facts.waiting).unwrap_or(usize::MAX),
        }
        .verdict()
        .map_err(Fail::Biz)?;
        let (id, created) = match (verdict, facts.live) {
            (JoinVerdict::Existing, Some(live)) => (live, false),
            _ => {
                crate::sql::sql_query(INSERT_ENTRY)
                    .bind::<SqlUuid, _>(entry)
                    .bind::<BigInt, _>(user)
                    .bind::<BigInt, _>(schedule)
                    .execute(conn)
                    .await?;
                (entry, true)
            }
        };
        let entry = entry_by_id(conn, id)
            .await
            .map_err(Fail::widen)?
            .ok_or_else(|| Fail::Store(StoreError::Internal("entry vanished".into())))?;
        Ok(WaitlistJoined { entry, created })
    })
}

/// Leaving: the date's lock, the offer reservation's lock, then the entry's (the payment's
/// order), the entry LEFT and its live offer cancelled, then THE offer step for the date.
fn leave_transaction(
    conn: &mut AsyncPgConnection,
    user: i64,
    entry: Uuid,
    policy: WaitlistPolicy,
) -> TxFuture<'_, (), WaitlistEntryError> {
    Box::pin(async move {
        let head: Option<Head> = crate::sql::sql_query(ENTRY_HEAD)
            .bind::<SqlUuid, _>(entry)
            .load::<Head>(conn)
            .await?
            .into_iter()
            .next();
        let Some(head) = head.filter(|h| h.value == user) else {
            return Err(Fail::Biz(WaitlistEntryError::NotFound));
        };
        crate::sql::sql_query(LOCK_DATE)
            .bind::<BigInt, _>(head.key)
            .execute(conn)
            .await?;
        // Read again under the date's lock: an offer may have been made meanwhile.
        let offer = crate::sql::sql_query(ENTRY_HEAD)
            .bind::<SqlUuid, _>(entry)
            .load::<Head>(conn)
            .await?
            .into_iter()
            .next()
            .and_then(|h| h.offer)
            .or(head.offer);
        if let Some(reservation) = offer {
            crate::sql::sql_query(LOCK_RESERVATION)
                .bind::<SqlUuid, _>(reservation)
                .load::<Value>(conn)
                .await?;
        }
        crate::sql::sql_query(LEAVE)
            .bind::<SqlUuid, _>(entry)
            .execute(conn)
            .await?;
        offer_in_tx(conn, head.key, policy).await?;
        Ok(())
    })
}

#[async_trait]
impl WaitlistStore for PgStore {
    async fn join_waitlist(
        &self,
        user_id: UserId,
        schedule_id: ScheduleId,
        entry_id: WaitlistEntryId,
    ) -> Result<WaitlistJoined, JoinWaitlistError> {
        self.db
            .transaction(|conn| {
                join_transaction(conn, user_id.get(), schedule_id.get(), entry_id.get())
            })
            .await
            .map_err(Fail::into_error)
    }

    async fn waitlist_entry(
        &self,
        user_id: UserId,
        entry_id: WaitlistEntryId,
    ) -> Result<Option<WaitlistEntry>, StoreError> {
        let entry = self
            .db
            .transaction(|conn| entry_by_id(conn, entry_id.get()).boxed())
            .await
            .map_err(Fail::into_error)?;
        Ok(entry.filter(|e| e.user_id == user_id))
    }

    async fn waitlist_entries(
        &self,
        user_id: UserId,
        page: PageRequest,
    ) -> Result<Page<WaitlistEntry>, StoreError> {
        let sql = format!(
            "{ENTRIES} WHERE w.user_id = $1 \
               AND ($2::timestamptz IS NULL OR (w.created_at, w.id) < ($2, $3)) \
             ORDER BY w.created_at DESC, w.id DESC LIMIT $4"
        );
        let after = page.after();
        let take = i64::from(page.limit()) + 1;
        let rows: Vec<EntryRow> = self
            .db
            .autocommit(|conn| {
                crate::sql::sql_query(sql.clone())
                    .bind::<BigInt, _>(user_id.get())
                    .bind::<Nullable<Timestamptz>, _>(after.map(|c| c.created_at))
                    .bind::<Nullable<SqlUuid>, _>(after.map(|c| c.id))
                    .bind::<BigInt, _>(take)
                    .load(conn)
                    .boxed()
            })
            .await?;
        let items = rows
            .into_iter()
            .map(EntryRow::into_domain)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(items, page.limit(), |e| Cursor {
            created_at: e.created_at,
            id: e.id.get(),
        }))
    }

    async fn leave_waitlist(
        &self,
        user_id: UserId,
        entry_id: WaitlistEntryId,
        policy: WaitlistPolicy,
    ) -> Result<(), WaitlistEntryError> {
        self.db
            .transaction(|conn| leave_transaction(conn, user_id.get(), entry_id.get(), policy))
            .await
            .map_err(Fail::into_error)
    }

    async fn waitlist_counts(
        &self,
        schedule_id: ScheduleId,
    ) -> Result<Option<WaitlistCounts>, StoreError> {
        self.db
            .transaction(|conn| counts_transaction(conn, schedule_id.get()))
            .await
            .map_err(Fail::into_error)
    }

    async fn offer_waitlist_seats(
        &self,
        schedule_id: Option<ScheduleId>,
        policy: WaitlistPolicy,
    ) -> Result<u64, StoreError> {
        let dates: Vec<i64> = match schedule_id {
            Some(id) => vec![id.get()],
            None => self
                .db
                .autocommit(|conn| crate::sql::sql_query(DATES).load::<Value>(conn).boxed())
                .await?
                .into_iter()
                .map(|v| v.value)
                .collect(),
        };
        let mut made = 0u64;
        // One transaction per date: a date's lock is held only while it is offered.
        for date in dates {
            let n = self
                .db
                .statement(|conn| offer_in_tx(conn, date, policy).boxed())
                .await?;
            made += u64::try_from(n).unwrap_or(0);
        }
        Ok(made)
    }
}
