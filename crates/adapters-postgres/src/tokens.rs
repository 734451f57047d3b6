//! Queue tokens as holds and payments lock them: one row shape and one rule for both.
//!
//! A hold locks its holder's token `FOR SHARE` (a payment that spends it, or a sweep that
//! expires it, is waited for and its result seen); a payment locks it `FOR NO KEY UPDATE`,
//! since it then spends it. Both take the lock after the reservations or seats they lock (the
//! store's lock order: reservations and seats, then tokens, then wallets), and both judge the
//! window with `token_active` once the lock is held, by the clock read after the lock.

use diesel::sql_types::{Array, BigInt, Bool, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::collections::HashMap;
use uuid::Uuid;

/// How a statement locks the tokens it reads.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TokenLock {
    /// A hold's: the token must stay as it is until the hold commits.
    Share,
    /// A payment's: the token is spent (expired) in the same transaction.
    Spend,
}

/// The tokens `$1`, locked `FOR SHARE` in id order.
const SHARE: &str = "\
    SELECT t.id, t.user_id, t.concert_id, token_active(t.status, t.active_until) AS active \
    FROM (SELECT id, user_id, concert_id, status, active_until FROM queue_tokens \
          WHERE id = ANY($1) ORDER BY id FOR SHARE) t";

/// The tokens `$1`, locked `FOR NO KEY UPDATE` in id order.
const SPEND: &str = "\
    SELECT t.id, t.user_id, t.concert_id, token_active(t.status, t.active_until) AS active \
    FROM (SELECT id, user_id, concert_id, status, active_until FROM queue_tokens \
          WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE) t";

/// A queue token a hold or a payment has locked: whose it is, for which concert, and whether
/// its window is still open (`token_active`, judged once the lock is held).
#[derive(Debug, QueryableByName)]
pub(crate) struct LockedToken {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = BigInt)]
    pub user_id: i64,
    #[diesel(sql_type = BigInt)]
    pub concert_id: i64,
    #[diesel(sql_type = Bool)]
    pub active: bool,
}

impl LockedToken {
    /// The one rule for a hold and a payment alike: the token is `user`'s, for `concert`, and
    /// ACTIVE now.
    pub(crate) const fn admits(&self, user: i64, concert: i64) -> bool {
        self.active && self.user_id == user && self.concert_id == concert
    }
}

/// The tokens of `ids`, locked as `lock` says, by id.
pub(crate) async fn lock_tokens(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
    lock: TokenLock,
) -> diesel::QueryResult<LockedTokens> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let sql = match lock {
        TokenLock::Share => SHARE,
        TokenLock::Spend => SPEND,
    };
    let rows: Vec<LockedToken> = crate::sql::sql_query(sql)
        .bind::<Array<SqlUuid>, _>(ids)
        .load(conn)
        .await?;
    Ok(LockedTokens(rows.into_iter().map(|t| (t.id, t)).collect()))
}

/// Locked tokens by id.
pub(crate) struct LockedTokens(HashMap<Uuid, LockedToken>);

impl LockedTokens {
    /// Whether `token` (locked here) lets `user` in for `concert` now.
    pub(crate) fn admit(&self, token: Uuid, user: i64, concert: i64) -> bool {
        self.0.get(&token).is_some_and(|t| t.admits(user, concert))
    }
}
