//! [`QueueStore`]: the waiting line.
//!
//! # Place in line without counting the line
//!
//! Each concert has a counter row (`concert_queues`): a join takes `seq = next_seq + 1` from it,
//! so a concert's tokens are numbered 1, 2, 3, … in issue order. Admission is strict FIFO, so
//! after every tick all tokens with `seq <= admitted_through` have left the line (admitted, or
//! gone before their turn). A waiting token's place is therefore
//!
//! ```text
//! position = (seq - admitted_through)
//!          - tokens in (admitted_through, seq) that left while waiting   (departed_waiting)
//!          - tokens in (admitted_through, seq) idle past the timeout but not yet swept
//! ```
//!
//! Both subtractions are index-only counts over partial indexes (`queue_tokens_departed_seq`,
//! `queue_tokens_idle_by_concert`), so a lookup costs O(departures ahead of the token), not
//! O(line length): with a million tokens waiting and few leaving, a poll reads a handful of index
//! entries. The trade-off: when very many tokens ahead leave the line at once (say, a mass idle
//! drop), lookups at the back count those departures until admission passes them. Joins take
//! their numbers from the concert's counter row in blocks, one update per batch of joins
//! (`queue/join.rs`), so a join storm does not queue on that row one join at a time.
//!
//! # Admission
//!
//! One transaction per concert, under `pg_advisory_xact_lock(concert_id)`: a tick of another
//! instance admitting that concert right now finishes first (a few milliseconds) and this one then
//! sees its result; if that takes longer than two seconds this tick skips the concert. With the
//! lock held it reads the unexpired ACTIVE count and the concert's admission slot record, then
//! locks the oldest effectively WAITING tokens by `seq` (plain `FOR UPDATE`, no `SKIP LOCKED`,
//! which could skip an older token and break FIFO), activates them with
//! `active_until = now() + ttl`, moves `admitted_through` and records the slot. Only one admitter
//! per concert runs at a time and the active count can only fall meanwhile, so the cap holds and
//! no token is admitted twice.
//!
//! **Per interval, not per instance.** Every instance ticks; the database decides how many a tick
//! may admit. The slot is `now()` (the transaction's, the same instant that stamps `admitted_at`)
//! rounded down to the admit interval ([`domain::admission_slot`]); `concert_queues` records the
//! slot of the latest admission and how many it admitted (`admission_slot`,
//! `admitted_in_slot`). A tick admits at most what the slot's batch has left
//! ([`domain::slot_room`]), so one instance or ten admit at most `admitBatch` per concert per
//! slot. The scheduler ticks several times per interval, so every slot is reached even when a
//! tick runs late.

mod admission;
mod draw;
mod gate;
mod join;
mod statements;

pub(crate) use gate::{polls_batch, tokens_batch};
pub(crate) use join::joins_batch;

use crate::errors::{db_error, Fail};
use crate::requests::{JoinRequest, PollRequest, TokenRead};
use crate::rows::{micros, Int8, StatsRow};
use crate::store::PgStore;
use admission::{admit_concert, Busy};
use async_trait::async_trait;
use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Uuid as SqlUuid};
use diesel::OptionalExtension;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::ports::{Joined, QueueStore};
use domain::{
    check_token_owner, AdminQueueError, AdmissionReport, ConcertId, DrawReport, JoinQueueError,
    QueueAccessError, QueuePolicy, QueueSettingsPatch, QueueStanding, QueueStats, QueueToken,
    QueueTokenError, QueueTokenId, StoreError, UserId,
};
use futures::FutureExt;
use statements::cutoff;
use std::time::Duration;

/// `$1` token: its owner, locked.
const TOKEN_OWNER: &str = "SELECT user_id AS value FROM queue_tokens WHERE id = $1 FOR UPDATE";

/// Marks a stored-live token EXPIRED; `departed_waiting` records that it left the line waiting
/// (or the pre-queue).
const EXPIRE_TOKEN: &str = "\
    UPDATE queue_tokens SET status = 'EXPIRED', \
        departed_waiting = (status IN ('WAITING', 'PRE_QUEUE')) \
    WHERE id = $1 AND status IN ('PRE_QUEUE', 'WAITING', 'ACTIVE')";

async fn stats_of(
    conn: &mut AsyncPgConnection,
    concert_id: Option<ConcertId>,
    policy: QueuePolicy,
) -> diesel::QueryResult<Vec<StatsRow>> {
    match concert_id {
        Some(id) => {
            crate::sql::sql_query(statements::stats(policy, true))
                .bind::<BigInt, _>(id.get())
                .load(conn)
                .await
        }
        None => {
            crate::sql::sql_query(statements::stats(policy, false))
                .load(conn)
                .await
        }
    }
}

/// `check_token_owner` for an owner id as the database stores it.
fn owned_by(owner: Option<i64>, caller: UserId) -> Result<(), QueueTokenError> {
    let owner = owner.map(crate::rows::user_id).transpose()?;
    Ok(check_token_owner(owner, caller)?)
}

#[async_trait]
impl QueueStore for PgStore {
    async fn join(
        &self,
        user_id: UserId,
        concert_id: ConcertId,
        token_id: QueueTokenId,
        policy: QueuePolicy,
    ) -> Result<Joined, JoinQueueError> {
        let joined = self
            .batches
            .joins
            .call(JoinRequest {
                user: user_id.get(),
                concert: concert_id.get(),
                new_token: token_id.get(),
                policy,
            })
            .await??;
        Ok(Joined {
            standing: joined.row.standing()?,
            created: joined.created,
        })
    }

    async fn poll(
        &self,
        token_id: QueueTokenId,
        user_id: UserId,
        policy: QueuePolicy,
    ) -> Result<QueueStanding, QueueTokenError> {
        let row = self
            .batches
            .polls
            .call(PollRequest {
                token: token_id.get(),
                user: user_id.get(),
                policy,
            })
            .await?;
        owned_by(row.as_ref().map(|r| r.user_id), user_id)?;
        let Some(row) = row else {
            return Err(QueueAccessError::TokenRequired.into());
        };
        Ok(row.standing()?)
    }

    async fn token(
        &self,
        token_id: QueueTokenId,
        policy: QueuePolicy,
    ) -> Result<Option<QueueToken>, StoreError> {
        let row = self
            .batches
            .tokens
            .call(TokenRead {
                token: token_id.get(),
                policy,
            })
            .await?;
        row.map(|r| r.token()).transpose()
    }

    async fn leave(&self, token_id: QueueTokenId, user_id: UserId) -> Result<(), QueueTokenError> {
        self.db
            .transaction(|conn| {
                Box::pin(async move {
                    let owner: Option<Int8> = crate::sql::sql_query(TOKEN_OWNER)
                        .bind::<SqlUuid, _>(token_id.get())
                        .get_result(conn)
                        .await
                        .optional()?;
                    owned_by(owner.map(|o| o.value), user_id).map_err(Fail::Biz)?;
                    crate::sql::sql_query(EXPIRE_TOKEN)
                        .bind::<SqlUuid, _>(token_id.get())
                        .execute(conn)
                        .await?;
                    Ok(())
                })
            })
            .await
            .map_err(Fail::into_error)
    }

    async fn draw(&self, policy: QueuePolicy) -> Result<Vec<DrawReport>, StoreError> {
        let concerts: Vec<Int8> = self
            .db
            .autocommit(|conn| {
                crate::sql::sql_query(draw::DRAW_CANDIDATES)
                    .load(conn)
                    .boxed()
            })
            .await?;
        let mut reports = Vec::new();
        for concert in concerts {
            let seed = self.seeds.next_seed();
            let drawn = self
                .db
                .transaction(|conn| draw::draw_concert(conn, concert.value, seed, policy).boxed())
                .await
                .map_err(Fail::into_error)?;
            let Some(drawn) = drawn else {
                self.draws_lost
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::debug!(concert = concert.value, "pre-queue already drawn elsewhere");
                continue;
            };
            {
                let concert_id = crate::rows::concert_id(concert.value)?;
                tracing::info!(concert_id = %concert_id, seed, drawn, "pre-queue drawn");
                reports.push(DrawReport {
                    concert_id,
                    seed,
                    drawn,
                });
            }
        }
        Ok(reports)
    }

    async fn admit(&self, policy: QueuePolicy) -> Result<Vec<AdmissionReport>, StoreError> {
        self.draw(policy).await?;
        let concerts: Vec<Int8> = self
            .db
            .autocommit(|conn| {
                crate::sql::sql_query(statements::admit_candidates())
                    .bind::<BigInt, _>(micros(policy.admit_interval()))
                    .bind::<Integer, _>(i32::try_from(policy.admit_batch()).unwrap_or(i32::MAX))
                    .load(conn)
                    .boxed()
            })
            .await?;
        let mut reports = Vec::new();
        for concert in concerts {
            let admitted = match self
                .db
                .transaction(|conn| admit_concert(conn, concert.value, policy).boxed())
                .await
            {
                Ok(admitted) => admitted,
                Err(Fail::Biz(Busy)) => 0,
                Err(Fail::Db(e)) => return Err(db_error(e)),
                Err(Fail::Store(e)) => return Err(e),
            };
            if admitted > 0 {
                reports.push(AdmissionReport {
                    concert_id: crate::rows::concert_id(concert.value)?,
                    admitted,
                });
            }
        }
        Ok(reports)
    }

    async fn expire_active(&self, batch: u32) -> Result<u64, StoreError> {
        let n = self
            .db
            .autocommit(|conn| {
                // The batch size is written into the text (a fixed setting): a cached generic
                // plan of `LIMIT $1` would plan for a tenth of the table.
                crate::sql::sql_query(format!(
                    "UPDATE queue_tokens SET status = 'EXPIRED' WHERE id IN ( \
                        SELECT id FROM queue_tokens \
                        WHERE status = 'ACTIVE' AND active_until <= now() \
                        ORDER BY active_until LIMIT {batch} FOR UPDATE SKIP LOCKED)"
                ))
                .execute(conn)
                .boxed()
            })
            .await?;
        Ok(n as u64)
    }

    async fn drop_idle(&self, idle_timeout: Duration, batch: u32) -> Result<u64, StoreError> {
        let mut dropped = 0u64;
        // The line first, then the pre-queue: one partial index each.
        for status in ["WAITING", "PRE_QUEUE"] {
            let left = u64::from(batch).saturating_sub(dropped);
            if left == 0 {
                break;
            }
            let n = self
                .db
                .autocommit(|conn| {
                    crate::sql::sql_query(format!(
                        "UPDATE queue_tokens SET status = 'EXPIRED', departed_waiting = true \
                         WHERE id IN ( \
                            SELECT id FROM queue_tokens \
                            WHERE status = '{status}' AND last_polled_at <= {} \
                            ORDER BY last_polled_at LIMIT {left} FOR UPDATE SKIP LOCKED)",
                        cutoff(idle_timeout)
                    ))
                    .execute(conn)
                    .boxed()
                })
                .await?;
            dropped += n as u64;
        }
        Ok(dropped)
    }

    async fn stats(
        &self,
        concert_id: ConcertId,
        policy: QueuePolicy,
    ) -> Result<QueueStats, AdminQueueError> {
        let rows = self
            .db
            .autocommit(|conn| stats_of(conn, Some(concert_id), policy).boxed())
            .await?;
        rows.into_iter()
            .next()
            .map(|r| r.into_domain(policy))
            .ok_or(AdminQueueError::ConcertNotFound)
    }

    async fn update_settings(
        &self,
        concert_id: ConcertId,
        patch: QueueSettingsPatch,
        policy: QueuePolicy,
    ) -> Result<QueueStats, AdminQueueError> {
        let as_i32 = |v: Option<u32>| v.map(|v| i32::try_from(v).unwrap_or(i32::MAX));
        let (batch, max_active) = (as_i32(patch.admit_batch()), as_i32(patch.max_active()));
        self.db
            .transaction(|conn| {
                Box::pin(async move {
                    let updated = crate::sql::sql_query(
                        "UPDATE concert_queues SET admit_batch = coalesce($2, admit_batch), \
                        max_active = coalesce($3, max_active), paused = coalesce($4, paused) \
                     WHERE concert_id = $1",
                    )
                    .bind::<BigInt, _>(concert_id.get())
                    .bind::<Nullable<Integer>, _>(batch)
                    .bind::<Nullable<Integer>, _>(max_active)
                    .bind::<Nullable<Bool>, _>(patch.paused())
                    .execute(conn)
                    .await?;
                    if updated == 0 {
                        return Err(Fail::Biz(AdminQueueError::ConcertNotFound));
                    }
                    let rows = stats_of(conn, Some(concert_id), policy).await?;
                    rows.into_iter()
                        .next()
                        .map(|r| r.into_domain(policy))
                        .ok_or(Fail::Biz(AdminQueueError::ConcertNotFound))
                })
            })
            .await
            .map_err(Fail::into_error)
    }

    async fn all_stats(
        &self,
        policy: QueuePolicy,
    ) -> Result<Vec<(ConcertId, QueueStats)>, StoreError> {
        let rows = self
            .db
            .autocommit(|conn| stats_of(conn, None, policy).boxed())
            .await?;
        rows.into_iter()
            .map(|r| {
                Ok((
                    crate::rows::concert_id(r.concert_id)?,
                    r.into_domain(policy),
                ))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The statements of a poll and of an admission tick, as `scripts/queue-plans.sh` explains
    /// them: name, the parameter types the code binds, and the SQL itself.
    fn planned() -> Vec<(&'static str, &'static str, String)> {
        // The service's defaults, as the script assumes: idle timeout 300 s.
        let policy = QueuePolicy::new(
            100,
            1000,
            Duration::from_secs(1),
            Duration::from_secs(600),
            Duration::from_secs(300),
        )
        .expect("the defaults are valid");
        vec![
            (
                "standing",
                "uuid",
                statements::standing(policy, "t.id = $1"),
            ),
            (
                "poll_batch",
                "uuid[], int8[]",
                statements::poll_batch(policy),
            ),
            ("admin_stats", "int8", statements::stats(policy, true)),
            (
                "admit_lock_timeout",
                "text",
                admission::ADMIT_LOCK_TIMEOUT.to_owned(),
            ),
            ("admit_lock", "int8", admission::ADMIT_LOCK.to_owned()),
            ("admit_line", "int8", statements::admit_line()),
            (
                "admit_pick",
                "int8, int8, int8, int8",
                statements::admit_pick(policy),
            ),
            (
                "admit_candidates",
                "int8, int4",
                statements::admit_candidates(),
            ),
            (
                "admit_advance",
                "int8, int8, timestamptz, int4",
                admission::ADMIT_ADVANCE.to_owned(),
            ),
            (
                "admit_record",
                "int8, int4",
                admission::ADMIT_RECORD.to_owned(),
            ),
            ("admit_prune", "int8", admission::ADMIT_PRUNE.to_owned()),
        ]
    }

    /// Checks that each statement is one line using exactly its listed parameters; with
    /// `QUEUE_PLANS_SQL_OUT` set, also writes them there as `PREPARE` statements for
    /// `scripts/queue-plans.sh`, so the plans it prints are of the queries the store runs.
    #[test]
    fn queue_statements_for_the_plans_script() {
        let planned = planned();
        for (name, types, sql) in &planned {
            let params = types.split(',').count();
            assert!(!sql.contains('\n'), "{name} spans lines");
            assert!(
                sql.contains(&format!("${params}")),
                "{name} lacks ${params}"
            );
            assert!(
                !sql.contains(&format!("${}", params + 1)),
                "{name} uses more than {params} parameters"
            );
        }
        if let Some(path) = std::env::var_os("QUEUE_PLANS_SQL_OUT") {
            let text: String = planned
                .iter()
                .map(|(name, types, sql)| format!("PREPARE {name}({types}) AS {sql};\n"))
                .collect();
            std::fs::write(path, text).expect("write the statements");
        }
    }
}
