//! Reading reservations: headers with their effective status, then their seats.

use crate::db::Db;
use crate::errors::Fail;
use crate::requests::ReservationRead;
use crate::rows::{LineRow, ReservationRow};
use diesel::sql_types::{Array, BigInt, Nullable, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::{PageRequest, Reservation, ReservedSeat, StoreError, UserId};
use std::collections::HashMap;
use uuid::Uuid;

/// Reservation headers with the effective status; a statement appends its WHERE on `r`.
const HEADERS: &str = include_str!("sql/reservations.sql");

/// The seats of reservations `$1`.
const LINES: &str = include_str!("sql/lines.sql");

/// One page of a user's reservations, newest first: `$1` user, `$2`/`$3` the cursor (created
/// at, id), `$4` how many.
fn page_sql() -> String {
    format!(
        "{HEADERS} WHERE r.user_id = $1 \
           AND ($2::timestamptz IS NULL OR (r.created_at, r.id) < ($2, $3)) \
         ORDER BY r.created_at DESC, r.id DESC LIMIT $4"
    )
}

/// Loads the seats of `rows` and assembles the reservations, in the order of `rows`.
async fn with_lines(
    conn: &mut AsyncPgConnection,
    rows: Vec<ReservationRow>,
) -> Result<Vec<Reservation>, Fail<StoreError>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let lines: Vec<LineRow> = crate::sql::sql_query(LINES)
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

/// The reservations of `ids` (any holder), by id.
pub(super) async fn by_ids(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Reservation>, Fail<StoreError>> {
    let rows: Vec<ReservationRow> =
        crate::sql::sql_query(format!("{HEADERS} WHERE r.id = ANY($1)"))
            .bind::<Array<SqlUuid>, _>(ids.to_vec())
            .load(conn)
            .await?;
    Ok(with_lines(conn, rows)
        .await?
        .into_iter()
        .map(|r| (r.id.get(), r))
        .collect())
}

/// One reservation of the user (any status), or `None`.
pub(super) async fn of_user(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    id: Uuid,
) -> Result<Option<Reservation>, Fail<StoreError>> {
    Ok(by_ids(conn, &[id])
        .await?
        .remove(&id)
        .filter(|r| r.user_id == user_id))
}

/// One page of the user's reservations (one more than the limit, to tell whether more follow).
pub(super) async fn page_of_user(
    conn: &mut AsyncPgConnection,
    user_id: UserId,
    page: PageRequest,
) -> Result<Vec<Reservation>, Fail<StoreError>> {
    let (after_at, after_id) = page
        .after()
        .map_or((None, None), |c| (Some(c.created_at), Some(c.id)));
    let rows: Vec<ReservationRow> = crate::sql::sql_query(page_sql())
        .bind::<BigInt, _>(user_id.get())
        .bind::<Nullable<Timestamptz>, _>(after_at)
        .bind::<Nullable<SqlUuid>, _>(after_id)
        .bind::<BigInt, _>(i64::from(page.limit()) + 1)
        .load(conn)
        .await?;
    with_lines(conn, rows).await
}

/// The reservations of one batch (headers, then lines: two statements on one connection; the
/// lines of a reservation never change once written), each only for its own holder.
pub(crate) async fn reservations_batch(
    db: Db,
    keys: Vec<ReservationRead>,
) -> Result<Vec<Option<Reservation>>, StoreError> {
    let (ids, _) = crate::batch::distinct(&keys.iter().map(|k| k.id).collect::<Vec<_>>());
    let found = db
        .autocommit(|conn| {
            let ids = ids.clone();
            Box::pin(async move { Ok(by_ids(conn, &ids).await) })
        })
        .await?
        .map_err(Fail::into_error)?;
    Ok(keys
        .iter()
        .map(|k| {
            found
                .get(&k.id)
                .filter(|r| r.user_id.get() == k.user)
                .cloned()
        })
        .collect())
}
