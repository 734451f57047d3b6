//! [`CatalogueStore`]: concerts, schedules and seats. A seat is available when no CONFIRMED and
//! no unexpired HELD reservation has it, by the database's clock.

use crate::batched::{distinct, ScheduleSeatRows};
use crate::errors::{bad_row, Fail};
use crate::pool::{PgStore, Reader};
use crate::rows::{
    concert_id, schedule_id, ConcertRow, Int8, ScheduleRow, ScheduleSummaryRow, SeatRow,
};
use async_trait::async_trait;
use diesel::sql_types::{Array, BigInt, Text, Timestamptz};
use diesel::{OptionalExtension, QueryableByName};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::ports::CatalogueStore;
use domain::{
    BrowseError, Concert, ConcertId, CreateScheduleError, NewConcert, NewSchedule, ScheduleId,
    ScheduleSeats, ScheduleSummary, StoreError,
};
use futures::FutureExt;
use std::collections::HashMap;

/// Whether the reservation of line `rs` still holds its seat (CONFIRMED, or HELD and unexpired),
/// as a scalar sub-select: one primary-key probe per live line. (Written as a join, the planner,
/// expecting ~1,000 lines per schedule, hashes the whole `reservations` table for each
/// schedule: 0.5 s for a 20-date listing with 100k reservations elsewhere, found by
/// scripts/bench.)
macro_rules! line_holds_seat {
    () => {
        "(SELECT r.status = 'CONFIRMED' OR (r.status = 'HELD' AND r.held_until > now()) \
          FROM reservations r WHERE r.id = rs.reservation_id)"
    };
}

/// Seats of schedules with availability now (`$1` = schedule ids). The sub-select names the
/// line's schedule too (a line's schedule is its seat's, by the foreign key), so that it reads
/// these schedules' live lines only, whatever the plan.
const SEATS_OF_SCHEDULES: &str = concat!(
    "SELECT st.schedule_id, st.id, st.number, st.grade, st.price, NOT EXISTS ( \
        SELECT 1 FROM reservation_seats rs \
        WHERE rs.seat_id = st.id AND rs.schedule_id = st.schedule_id AND rs.live AND ",
    line_holds_seat!(),
    ") AS available FROM seats st WHERE st.schedule_id = ANY($1) ORDER BY st.schedule_id, st.id"
);

/// A seat row with the schedule it belongs to.
#[derive(QueryableByName)]
struct ScheduledSeatRow {
    #[diesel(sql_type = BigInt)]
    schedule_id: i64,
    #[diesel(embed)]
    seat: SeatRow,
}

/// The seat listings of one batch: the headers, then the seats of every distinct schedule asked
/// for (two statements on one connection; a schedule's header never changes).
pub(crate) async fn schedule_seats_batch(
    reader: Reader,
    keys: Vec<i64>,
) -> Result<Vec<Option<ScheduleSeatRows>>, StoreError> {
    let (ids, _) = distinct(&keys);
    let (headers, seats) = reader
        .read(|conn| {
            let ids = ids.clone();
            Box::pin(async move {
                let headers: Vec<ScheduleRow> = crate::sql::sql_query(
                    "SELECT id, concert_id, starts_at FROM schedules WHERE id = ANY($1)",
                )
                .bind::<Array<BigInt>, _>(ids.clone())
                .load(conn)
                .await?;
                let seats: Vec<ScheduledSeatRow> = if headers.is_empty() {
                    Vec::new()
                } else {
                    crate::sql::sql_query(SEATS_OF_SCHEDULES)
                        .bind::<Array<BigInt>, _>(ids)
                        .load(conn)
                        .await?
                };
                Ok((headers, seats))
            })
        })
        .await?;
    let mut found: HashMap<i64, ScheduleSeatRows> = headers
        .into_iter()
        .map(|h| (h.id, (h, Vec::new())))
        .collect();
    for row in seats {
        if let Some((_, list)) = found.get_mut(&row.schedule_id) {
            list.push(row.seat);
        }
    }
    Ok(keys.iter().map(|k| found.get(k).cloned()).collect())
}

/// The concerts of one batch's schedules.
pub(crate) async fn schedule_concerts_batch(
    reader: Reader,
    keys: Vec<i64>,
) -> Result<Vec<Option<i64>>, StoreError> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = BigInt)]
        id: i64,
        #[diesel(sql_type = BigInt)]
        concert_id: i64,
    }
    let (ids, _) = distinct(&keys);
    let rows: Vec<Row> = reader
        .read(|conn| {
            crate::sql::sql_query("SELECT id, concert_id FROM schedules WHERE id = ANY($1)")
                .bind::<Array<BigInt>, _>(ids.clone())
                .load(conn)
                .boxed()
        })
        .await?;
    let found: HashMap<i64, i64> = rows.into_iter().map(|r| (r.id, r.concert_id)).collect();
    Ok(keys.iter().map(|k| found.get(k).copied()).collect())
}

/// A listing from its rows.
fn listing(header: ScheduleRow, seats: Vec<SeatRow>) -> Result<ScheduleSeats, StoreError> {
    Ok(ScheduleSeats {
        schedule_id: schedule_id(header.id)?,
        concert_id: concert_id(header.concert_id)?,
        starts_at: header.starts_at,
        seats: seats
            .into_iter()
            .map(SeatRow::into_domain)
            .collect::<Result<Vec<_>, _>>()?,
    })
}

async fn schedule_seats_in(
    conn: &mut AsyncPgConnection,
    header: ScheduleRow,
) -> Result<ScheduleSeats, Fail<BrowseError>> {
    let seats: Vec<ScheduledSeatRow> = crate::sql::sql_query(SEATS_OF_SCHEDULES)
        .bind::<Array<BigInt>, _>(vec![header.id])
        .load(conn)
        .await?;
    listing(header, seats.into_iter().map(|s| s.seat).collect()).map_err(Fail::Store)
}

#[async_trait]
impl CatalogueStore for PgStore {
    async fn list_concerts(&self) -> Result<Vec<Concert>, StoreError> {
        let rows: Vec<ConcertRow> = self
            .read(|conn| {
                crate::sql::sql_query("SELECT id, title, venue FROM concerts ORDER BY id")
                    .load(conn)
                    .boxed()
            })
            .await?;
        rows.into_iter().map(ConcertRow::into_domain).collect()
    }

    async fn create_concert(&self, concert: NewConcert) -> Result<Concert, StoreError> {
        let row: ConcertRow = self
            .tx(|conn| {
                let concert = concert.clone();
                Box::pin(async move {
                    let row: ConcertRow = crate::sql::sql_query(
                        "INSERT INTO concerts (title, venue) VALUES ($1, $2) \
                         RETURNING id, title, venue",
                    )
                    .bind::<Text, _>(concert.title.as_str())
                    .bind::<Text, _>(concert.venue.as_str())
                    .get_result(conn)
                    .await?;
                    crate::sql::sql_query("INSERT INTO concert_queues (concert_id) VALUES ($1)")
                        .bind::<BigInt, _>(row.id)
                        .execute(conn)
                        .await?;
                    Ok::<_, Fail<StoreError>>(row)
                })
            })
            .await
            .map_err(Fail::into_error)?;
        row.into_domain()
    }

    async fn create_schedule(
        &self,
        concert_id: ConcertId,
        schedule: NewSchedule,
    ) -> Result<ScheduleSeats, CreateScheduleError> {
        let numbers: Vec<String> = schedule
            .seats()
            .iter()
            .map(|s| s.number.as_str().to_owned())
            .collect();
        let grades: Vec<String> = schedule
            .seats()
            .iter()
            .map(|s| s.grade.as_str().to_owned())
            .collect();
        let prices: Vec<i64> = schedule.seats().iter().map(|s| s.price.won()).collect();
        let starts_at = schedule.starts_at();
        self.tx(|conn| {
            let (numbers, grades, prices) = (numbers.clone(), grades.clone(), prices.clone());
            Box::pin(async move {
                // FOR KEY SHARE: the concert cannot disappear before the schedule is in.
                let exists = crate::sql::sql_query(
                    "SELECT id AS value FROM concerts WHERE id = $1 FOR KEY SHARE",
                )
                .bind::<BigInt, _>(concert_id.get())
                .get_result::<Int8>(conn)
                .await
                .optional()?;
                if exists.is_none() {
                    return Err(Fail::Biz(CreateScheduleError::ConcertNotFound));
                }
                let header: ScheduleRow = crate::sql::sql_query(
                    "INSERT INTO schedules (concert_id, starts_at) VALUES ($1, $2) \
                     RETURNING id, concert_id, starts_at",
                )
                .bind::<BigInt, _>(concert_id.get())
                .bind::<Timestamptz, _>(starts_at)
                .get_result(conn)
                .await?;
                crate::sql::sql_query(
                    "INSERT INTO seats (schedule_id, number, grade, price) \
                     SELECT $1, n, g, p FROM unnest($2::text[], $3::text[], $4::bigint[]) \
                        WITH ORDINALITY AS s(n, g, p, i) ORDER BY i",
                )
                .bind::<BigInt, _>(header.id)
                .bind::<Array<Text>, _>(&numbers)
                .bind::<Array<Text>, _>(&grades)
                .bind::<Array<BigInt>, _>(&prices)
                .execute(conn)
                .await?;
                schedule_seats_in(conn, header).await.map_err(|e| match e {
                    Fail::Db(e) => Fail::Db(e),
                    Fail::Store(e) | Fail::Biz(BrowseError::Store(e)) => Fail::Store(e),
                    Fail::Biz(other) => Fail::Store(bad_row("new schedule", format!("{other:?}"))),
                })
            })
        })
        .await
        .map_err(Fail::into_error)
    }

    async fn future_schedules(
        &self,
        concert_id: ConcertId,
    ) -> Result<Vec<ScheduleSummary>, BrowseError> {
        let rows = self
            .tx(|conn| {
                Box::pin(async move {
                    let exists =
                        crate::sql::sql_query("SELECT id AS value FROM concerts WHERE id = $1")
                            .bind::<BigInt, _>(concert_id.get())
                            .get_result::<Int8>(conn)
                            .await
                            .optional()?;
                    if exists.is_none() {
                        return Err(Fail::Biz(BrowseError::NotFound));
                    }
                    let rows: Vec<ScheduleSummaryRow> = crate::sql::sql_query(concat!(
                        "SELECT s.id, s.concert_id, s.starts_at, \
                            (SELECT count(*) FROM seats st WHERE st.schedule_id = s.id) \
                                AS total_seats, \
                            (SELECT count(*) FROM reservation_seats rs \
                              WHERE rs.schedule_id = s.id AND rs.live AND ",
                        line_holds_seat!(),
                        ") AS taken_seats \
                         FROM schedules s \
                         WHERE s.concert_id = $1 AND s.starts_at > now() \
                         ORDER BY s.starts_at, s.id",
                    ))
                    .bind::<BigInt, _>(concert_id.get())
                    .load(conn)
                    .await?;
                    Ok(rows)
                })
            })
            .await
            .map_err(Fail::into_error)?;
        rows.into_iter()
            .map(|r| r.into_domain().map_err(BrowseError::from))
            .collect()
    }

    async fn schedule_seats(&self, schedule_id: ScheduleId) -> Result<ScheduleSeats, BrowseError> {
        let (header, seats) = self
            .batches
            .schedule_seats
            .call(schedule_id.get())
            .await?
            .ok_or(BrowseError::NotFound)?;
        Ok(listing(header, seats)?)
    }

    async fn schedule_concert(
        &self,
        schedule_id: ScheduleId,
    ) -> Result<Option<ConcertId>, StoreError> {
        if let Some(known) = self.schedule_concerts.get(schedule_id.get()) {
            return concert_id(known).map(Some);
        }
        let concert = self
            .batches
            .schedule_concerts
            .call(schedule_id.get())
            .await?;
        if let Some(concert) = concert {
            self.schedule_concerts.remember(schedule_id.get(), concert);
        }
        concert.map(concert_id).transpose()
    }
}
