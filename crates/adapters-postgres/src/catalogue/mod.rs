//! [`CatalogueStore`]: concerts, schedules and seats. A seat is available when no CONFIRMED and
//! no unexpired HELD reservation has it, by the database's clock.

#[macro_use]
mod line;
mod listing;
mod sale;

pub(crate) use listing::{listings_batch, schedule_concerts_batch};

use crate::errors::{bad_row, Fail};
use crate::rows::{concert_id, ConcertRow, Int8, ScheduleRow, ScheduleSummaryRow, CONCERT_COLUMNS};
use crate::store::PgStore;
use async_trait::async_trait;
use diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamptz};
use diesel::OptionalExtension;
use diesel_async::RunQueryDsl;
use domain::ports::CatalogueStore;
use domain::{
    BrowseError, Concert, ConcertId, CreateScheduleError, NewConcert, NewSchedule, SalePatch,
    ScheduleId, ScheduleSeats, ScheduleSummary, StoreError, UpdateSaleError,
};
use futures::FutureExt;
use listing::{listing, schedule_seats_in};

#[async_trait]
impl CatalogueStore for PgStore {
    async fn list_concerts(&self) -> Result<Vec<Concert>, StoreError> {
        let rows: Vec<ConcertRow> = self
            .db
            .autocommit(|conn| {
                crate::sql::sql_query(format!(
                    "SELECT {CONCERT_COLUMNS} FROM concerts c \
                     JOIN concert_queues q ON q.concert_id = c.id ORDER BY c.id"
                ))
                .load(conn)
                .boxed()
            })
            .await?;
        rows.into_iter().map(ConcertRow::into_domain).collect()
    }

    async fn create_concert(&self, concert: NewConcert) -> Result<Concert, StoreError> {
        let row: ConcertRow = self
            .db
            .transaction(|conn| {
                let concert = concert.clone();
                Box::pin(async move {
                    let row: ConcertRow = crate::sql::sql_query(
                        "WITH c AS (INSERT INTO concerts (title, venue) VALUES ($1, $2) \
                            RETURNING id, title, venue), \
                         q AS (INSERT INTO concert_queues \
                            (concert_id, sale_opens_at, sale_closes_at) \
                            SELECT id, $3, $4 FROM c RETURNING sale_opens_at, sale_closes_at) \
                         SELECT c.id, c.title, c.venue, q.sale_opens_at, q.sale_closes_at \
                         FROM c, q",
                    )
                    .bind::<Text, _>(concert.title.as_str())
                    .bind::<Text, _>(concert.venue.as_str())
                    .bind::<Nullable<Timestamptz>, _>(concert.sale.opens_at())
                    .bind::<Nullable<Timestamptz>, _>(concert.sale.closes_at())
                    .get_result(conn)
                    .await?;
                    Ok::<_, Fail<StoreError>>(row)
                })
            })
            .await
            .map_err(Fail::into_error)?;
        row.into_domain()
    }

    async fn update_sale(
        &self,
        concert_id: ConcertId,
        patch: SalePatch,
    ) -> Result<Concert, UpdateSaleError> {
        let row = self
            .db
            .transaction(|conn| sale::update_sale(conn, concert_id.get(), patch).boxed())
            .await
            .map_err(Fail::into_error)?;
        Ok(row.into_domain()?)
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
        self.db
            .transaction(|conn| {
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
                        Fail::Biz(other) => {
                            Fail::Store(bad_row("new schedule", format!("{other:?}")))
                        }
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
            .db
            .transaction(|conn| {
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
                            CASE WHEN kept_for_waitlist(s.id) \
                                THEN (SELECT count(*) FROM seats st WHERE st.schedule_id = s.id) \
                                ELSE (SELECT count(*) FROM reservation_seats rs \
                              WHERE rs.schedule_id = s.id AND rs.live AND ",
                        line_holds_seat!(),
                        ") END AS taken_seats \
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
        let found = self
            .batches
            .schedule_seats
            .call(schedule_id.get())
            .await?
            .ok_or(BrowseError::NotFound)?;
        Ok(listing(found)?)
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
