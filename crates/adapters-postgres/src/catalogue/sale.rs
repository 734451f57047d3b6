//! An operator's change of a concert's sale window: one transaction that locks the concert's
//! queue row (as a join and the draw do), lets [`domain::patch_sale`] decide, and writes.

use crate::errors::{bad_row, Fail};
use crate::rows::{ConcertRow, CONCERT_COLUMNS};
use diesel::sql_types::{BigInt, Bool, Nullable, Timestamptz};
use diesel::{OptionalExtension, QueryableByName};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::{patch_sale, SalePatch, SaleState, SaleWindow, Timestamp, UpdateSaleError};

/// `$1` concert: its window, whether it was drawn, whether any token was issued, the clock;
/// locks the queue row.
const SALE_STATE: &str = "\
    SELECT sale_opens_at, sale_closes_at, drawn_at IS NOT NULL AS drawn, \
        next_seq > 0 AS tokens_issued, now() AS now \
    FROM concert_queues WHERE concert_id = $1 FOR UPDATE";

/// `$1` concert, `$2` opening, `$3` closing.
const SALE_WRITE: &str = "\
    UPDATE concert_queues SET sale_opens_at = $2, sale_closes_at = $3 WHERE concert_id = $1";

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Nullable<Timestamptz>)]
    sale_opens_at: Option<Timestamp>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    sale_closes_at: Option<Timestamp>,
    #[diesel(sql_type = Bool)]
    drawn: bool,
    #[diesel(sql_type = Bool)]
    tokens_issued: bool,
    #[diesel(sql_type = Timestamptz)]
    now: Timestamp,
}

/// The patch, in the caller's transaction; returns the concert as it now is.
pub(super) async fn update_sale(
    conn: &mut AsyncPgConnection,
    concert_id: i64,
    patch: SalePatch,
) -> Result<ConcertRow, Fail<UpdateSaleError>> {
    let row: Option<Row> = crate::sql::sql_query(SALE_STATE)
        .bind::<BigInt, _>(concert_id)
        .get_result(conn)
        .await
        .optional()?;
    let Some(row) = row else {
        return Err(Fail::Biz(UpdateSaleError::ConcertNotFound));
    };
    let window = SaleWindow::new(row.sale_opens_at, row.sale_closes_at)
        .map_err(|e| Fail::Store(bad_row("sale window", e)))?;
    let state = SaleState {
        window,
        drawn: row.drawn,
        tokens_issued: row.tokens_issued,
    };
    let next = patch_sale(state, patch, row.now).map_err(|e| Fail::Biz(e.into()))?;
    crate::sql::sql_query(SALE_WRITE)
        .bind::<BigInt, _>(concert_id)
        .bind::<Nullable<Timestamptz>, _>(next.opens_at())
        .bind::<Nullable<Timestamptz>, _>(next.closes_at())
        .execute(conn)
        .await?;
    let concert = crate::sql::sql_query(format!(
        "SELECT {CONCERT_COLUMNS} FROM concerts c \
         JOIN concert_queues q ON q.concert_id = c.id WHERE c.id = $1"
    ))
    .bind::<BigInt, _>(concert_id)
    .get_result(conn)
    .await?;
    Ok(concert)
}
