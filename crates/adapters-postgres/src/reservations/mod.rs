//! [`ReservationStore`]: seat holds, reservation reads, cancellation and the hold-expiry sweep.
//!
//! Holds are coalesced (`hold.rs`): a hold is a batch, alone or with whatever other holds are
//! waiting. Each state change is one transaction whose guard is in SQL, and the schema refuses
//! what a guard missed (the partial unique index `reservation_seats_one_live`, the triggers of
//! migration `2025-01-04-000000_sold_once`).

mod hold;
mod read;

pub(crate) use hold::holds_batch;
pub(crate) use read::reservations_batch;

use crate::errors::Fail;
use crate::requests::{HoldRequest, ReservationRead};
use crate::store::PgStore;
use async_trait::async_trait;
use diesel::sql_types::{BigInt, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use domain::ports::{NewHold, ReservationStore};
use domain::{
    CancelError, Cursor, HoldPolicy, HoldSeatsError, Page, PageRequest, Reservation, ReservationId,
    StoreError, UserId,
};
use futures::FutureExt;

/// Cancels `$1` when it is `$2`'s, HELD and unexpired (its lines are released by the
/// reservation's trigger).
const CANCEL: &str = "\
    UPDATE reservations SET status = 'CANCELLED' \
    WHERE id = $1 AND user_id = $2 AND status = 'HELD' AND held_until > now()";

/// Expires up to `batch` lapsed holds, oldest first, skipping rows another transaction holds.
/// The batch size is written into the text (a fixed setting): a cached generic plan of
/// `LIMIT $1` would plan for a tenth of the table.
fn expire_sql(batch: u32) -> String {
    format!(
        "UPDATE reservations SET status = 'EXPIRED' WHERE id IN ( \
            SELECT id FROM reservations \
            WHERE status = 'HELD' AND held_until <= now() \
            ORDER BY held_until LIMIT {batch} FOR UPDATE SKIP LOCKED)"
    )
}

#[async_trait]
impl ReservationStore for PgStore {
    async fn hold(&self, hold: NewHold, policy: HoldPolicy) -> Result<Reservation, HoldSeatsError> {
        self.batches
            .holds
            .call(HoldRequest { hold, policy })
            .await?
    }

    async fn reservation(
        &self,
        user_id: UserId,
        id: ReservationId,
    ) -> Result<Option<Reservation>, StoreError> {
        self.batches
            .reservations
            .call(ReservationRead {
                user: user_id.get(),
                id: id.get(),
            })
            .await
    }

    async fn reservations(
        &self,
        user_id: UserId,
        page: PageRequest,
    ) -> Result<Page<Reservation>, StoreError> {
        let items = self
            .db
            .transaction(|conn| read::page_of_user(conn, user_id, page).boxed())
            .await
            .map_err(Fail::into_error)?;
        Ok(Page::from_overfetch(items, page.limit(), |r| Cursor {
            created_at: r.created_at,
            id: r.id.get(),
        }))
    }

    async fn cancel(&self, user_id: UserId, id: ReservationId) -> Result<Reservation, CancelError> {
        self.db
            .transaction(|conn| {
                Box::pin(async move {
                    let cancelled = crate::sql::sql_query(CANCEL)
                        .bind::<SqlUuid, _>(id.get())
                        .bind::<BigInt, _>(user_id.get())
                        .execute(conn)
                        .await?;
                    let current = read::of_user(conn, user_id, id.get())
                        .await
                        .map_err(Fail::widen)?;
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
        let sql = expire_sql(batch);
        let n = self
            .db
            .statement(|conn| crate::sql::sql_query(sql.clone()).execute(conn).boxed())
            .await?;
        Ok(n as u64)
    }
}
