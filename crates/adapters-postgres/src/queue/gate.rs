//! The queue gate's token reads and the polls, coalesced: one statement per batch.

use super::statements;
use crate::batch::{by_policy, distinct};
use crate::db::Db;
use crate::requests::{PollRequest, TokenRead};
use crate::rows::TokenRow;
use diesel::sql_types::{Array, BigInt, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use domain::StoreError;
use futures::FutureExt;
use std::collections::HashMap;
use uuid::Uuid;

/// Rows of `sql` (one `$1` uuid array, an optional `$2` bigint array) keyed by token id.
pub(super) async fn token_rows(
    db: &Db,
    sql: String,
    ids: Vec<Uuid>,
    users: Option<Vec<i64>>,
) -> Result<HashMap<Uuid, TokenRow>, StoreError> {
    let rows: Vec<TokenRow> = db
        .autocommit(|conn| {
            let query = crate::sql::sql_query(sql.clone()).bind::<Array<SqlUuid>, _>(ids.clone());
            match &users {
                Some(users) => query
                    .bind::<Array<BigInt>, _>(users.clone())
                    .load(conn)
                    .boxed(),
                None => query.load(conn).boxed(),
            }
        })
        .await?;
    Ok(rows.into_iter().map(|r| (r.id, r)).collect())
}

/// The gate's token reads of one batch: one statement per policy (in practice one).
pub(crate) async fn tokens_batch(
    db: Db,
    reads: Vec<TokenRead>,
) -> Result<Vec<Option<TokenRow>>, StoreError> {
    let mut answers = vec![None; reads.len()];
    for (policy, members) in by_policy(reads.iter().map(|r| r.policy)) {
        let (ids, _) = distinct(&members.iter().map(|&i| reads[i].token).collect::<Vec<_>>());
        let sql = statements::token(policy, "t.id = ANY($1)");
        let found = token_rows(&db, sql, ids, None).await?;
        for i in members {
            answers[i] = found.get(&reads[i].token).cloned();
        }
    }
    Ok(answers)
}

/// The polls of one batch: one statement per policy (in practice one) that touches the callers'
/// own waiting tokens and reads every token's standing.
pub(crate) async fn polls_batch(
    db: Db,
    polls: Vec<PollRequest>,
) -> Result<Vec<Option<TokenRow>>, StoreError> {
    let mut answers = vec![None; polls.len()];
    for (policy, members) in by_policy(polls.iter().map(|p| p.policy)) {
        let (pairs, _) = distinct(
            &members
                .iter()
                .map(|&i| (polls[i].token, polls[i].user))
                .collect::<Vec<_>>(),
        );
        let (ids, users): (Vec<Uuid>, Vec<i64>) = pairs.into_iter().unzip();
        let found = token_rows(&db, statements::poll_batch(policy), ids, Some(users)).await?;
        for i in members {
            answers[i] = found.get(&polls[i].token).cloned();
        }
    }
    Ok(answers)
}
