//! Idempotency records: what was answered under a (user, key), read for several keys at once.

use crate::batch::distinct;
use crate::db::Db;
use crate::requests::{RecordAnswer, RecordRead};
use crate::rows::IdempotencyRow;
use diesel::sql_types::{Array, BigInt, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::StoreError;
use futures::FutureExt;
use std::collections::HashMap;

/// The stored records of several (user, key) pairs: `$1` users, `$2` keys.
const RECORDS_OF_KEYS: &str = include_str!("sql/records_of_keys.sql");

/// A row of [`RECORDS_OF_KEYS`].
#[derive(QueryableByName)]
struct KeyedRecord {
    #[diesel(sql_type = BigInt)]
    user_id: i64,
    #[diesel(sql_type = Text)]
    key: String,
    #[diesel(embed)]
    record: IdempotencyRow,
}

/// The records stored under `reads`, by (user, key).
pub(super) async fn records_of(
    conn: &mut AsyncPgConnection,
    reads: &[RecordRead],
) -> diesel::QueryResult<HashMap<RecordRead, IdempotencyRow>> {
    let (users, keys): (Vec<i64>, Vec<String>) =
        reads.iter().map(|r| (r.user, r.key.clone())).unzip();
    let rows: Vec<KeyedRecord> = crate::sql::sql_query(RECORDS_OF_KEYS)
        .bind::<Array<BigInt>, _>(users)
        .bind::<Array<Text>, _>(keys)
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                RecordRead {
                    user: r.user_id,
                    key: r.key,
                },
                r.record,
            )
        })
        .collect())
}

/// The idempotency records of one batch: one statement for every (user, key) asked for.
pub(crate) async fn records_batch(
    db: Db,
    reads: Vec<RecordRead>,
) -> Result<Vec<RecordAnswer>, StoreError> {
    let (distinct_reads, _) = distinct(&reads);
    let found = db
        .autocommit(|conn| {
            let distinct_reads = distinct_reads.clone();
            async move { records_of(conn, &distinct_reads).await }.boxed()
        })
        .await?;
    Ok(reads.iter().map(|r| found.get(r).cloned()).collect())
}
