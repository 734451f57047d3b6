//! Seat listings: a schedule's seats with their availability now, coalesced (one statement for
//! every schedule asked for at once), and the concerts of schedules.

use crate::db::Db;
use crate::errors::Fail;
use crate::requests::ListingAnswer;
use crate::rows::{concert_id, schedule_id, Listing, ScheduleRow, SeatRow};
use diesel::sql_types::{Array, BigInt};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::{BrowseError, ScheduleSeats, StoreError};
use futures::FutureExt;
use std::collections::HashMap;

/// The headers of schedules `$1`.
const HEADERS: &str = "SELECT id, concert_id, starts_at FROM schedules WHERE id = ANY($1)";

/// The concerts of schedules `$1`.
const CONCERTS: &str = "SELECT id, concert_id FROM schedules WHERE id = ANY($1)";

/// Seats of schedules with availability now (`$1` = schedule ids). The sub-select names the
/// line's schedule too (a line's schedule is its seat's, by the foreign key), so that it reads
/// these schedules' live lines only, whatever the plan.
const SEATS_OF_SCHEDULES: &str = concat!(
    "SELECT st.schedule_id, st.id, st.number, st.grade, st.price, NOT EXISTS ( \
        SELECT 1 FROM reservation_seats rs \
        WHERE rs.seat_id = st.id AND rs.schedule_id = st.schedule_id AND rs.live AND ",
    line_holds_seat!(),
    ") AND NOT kept_for_waitlist(st.schedule_id) AS available \
     FROM seats st WHERE st.schedule_id = ANY($1) ORDER BY st.schedule_id, st.id"
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
pub(crate) async fn listings_batch(
    db: Db,
    keys: Vec<i64>,
) -> Result<Vec<ListingAnswer>, StoreError> {
    let (ids, _) = crate::batch::distinct(&keys);
    let (headers, seats) = db
        .autocommit(|conn| {
            let ids = ids.clone();
            Box::pin(async move {
                let headers: Vec<ScheduleRow> = crate::sql::sql_query(HEADERS)
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
    let mut found: HashMap<i64, Listing> = headers
        .into_iter()
        .map(|header| {
            (
                header.id,
                Listing {
                    header,
                    seats: Vec::new(),
                },
            )
        })
        .collect();
    for row in seats {
        if let Some(listing) = found.get_mut(&row.schedule_id) {
            listing.seats.push(row.seat);
        }
    }
    Ok(keys.iter().map(|k| found.get(k).cloned()).collect())
}

/// The concerts of one batch's schedules.
pub(crate) async fn schedule_concerts_batch(
    db: Db,
    keys: Vec<i64>,
) -> Result<Vec<Option<i64>>, StoreError> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = BigInt)]
        id: i64,
        #[diesel(sql_type = BigInt)]
        concert_id: i64,
    }
    let (ids, _) = crate::batch::distinct(&keys);
    let rows: Vec<Row> = db
        .autocommit(|conn| {
            crate::sql::sql_query(CONCERTS)
                .bind::<Array<BigInt>, _>(ids.clone())
                .load(conn)
                .boxed()
        })
        .await?;
    let found: HashMap<i64, i64> = rows.into_iter().map(|r| (r.id, r.concert_id)).collect();
    Ok(keys.iter().map(|k| found.get(k).copied()).collect())
}

/// A listing from its rows.
pub(super) fn listing(Listing { header, seats }: Listing) -> Result<ScheduleSeats, StoreError> {
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

pub(super) async fn schedule_seats_in(
    conn: &mut AsyncPgConnection,
    header: ScheduleRow,
) -> Result<ScheduleSeats, Fail<BrowseError>> {
    let seats: Vec<ScheduledSeatRow> = crate::sql::sql_query(SEATS_OF_SCHEDULES)
        .bind::<Array<BigInt>, _>(vec![header.id])
        .load(conn)
        .await?;
    listing(Listing {
        header,
        seats: seats.into_iter().map(|s| s.seat).collect(),
    })
    .map_err(Fail::Store)
}
