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
//! (`join.rs`), so a join storm does not queue on that row one join at a time.
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

use crate::batched::{by_policy, distinct, PollKey, TokenKey};
use crate::errors::{db_error, is_lock_timeout, Fail};
use crate::pool::{PgStore, Reader};
use crate::rows::{micros, Int8, StatsRow, TokenRow};
use async_trait::async_trait;
use diesel::sql_types::{
    Array, BigInt, Bool, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid,
};
use diesel::OptionalExtension;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::ports::{Joined, QueueStore};
use domain::{
    admission_quota, admission_slot, record_admission, slot_room, AdminQueueError, AdmissionReport,
    ConcertId, JoinQueueError, QueueAccessError, QueuePolicy, QueueSettings, QueueSettingsPatch,
    QueueStanding, QueueStats, QueueToken, QueueTokenError, QueueTokenId, SlotRecord, StoreError,
    Timestamp, UserId,
};
use futures::FutureExt;
use std::collections::HashMap;
use std::time::Duration;
use uuid::Uuid;

/// A poll refreshes `last_polled_at` only when it is older than this (or a quarter of the idle
/// timeout, if shorter), so most polls are a single read.
const TOUCH_AFTER: Duration = Duration::from_secs(5);

fn touch_after(policy: QueuePolicy) -> Duration {
    TOUCH_AFTER.min(policy.idle_timeout() / 4)
}

/// `now() - interval '<µs> microseconds'`: a cutoff written into the statement's text rather than
/// bound as a parameter. The idle timeout is fixed for the life of the process, so this costs no
/// extra prepared statements, and the planner sees the cutoff even in a cached generic plan: it
/// then knows that the idle-token count selects almost nothing (bound as a parameter, the generic
/// plan of the place-in-line lookup scanned the whole line ahead: 80 ms at 100k waiting).
fn cutoff(ago: Duration) -> String {
    format!("(now() - interval '{} microseconds')", micros(ago))
}

/// Fills a statement template's `{idle}` (the idle cutoff), `{touch}` (the touch cutoff) and
/// `{filter}` (which tokens) placeholders.
pub(crate) fn fill(template: &str, policy: QueuePolicy, filter: &str) -> String {
    template
        .replace("{idle}", &cutoff(policy.idle_timeout()))
        .replace("{touch}", &cutoff(touch_after(policy)))
        .replace("{filter}", filter)
}

/// A token's effective status by the database's clock (the lateral `e.status`).
pub(crate) const EFFECTIVE_STATUS: &str = "\
    CASE \
        WHEN t.status = 'ACTIVE' AND t.active_until <= now() THEN 'EXPIRED' \
        WHEN t.status = 'WAITING' \
             AND (t.last_polled_at <= {idle} OR t.seq <= q.admitted_through) THEN 'EXPIRED' \
        ELSE t.status END";

/// Template: tokens with their effective status, place in line and the concert's admission rate.
const STANDING: &str = "\
    SELECT t.id, t.user_id, t.concert_id, t.seq, t.issued_at, t.active_until, e.status, \
        CASE WHEN e.status = 'WAITING' THEN \
            (t.seq - q.admitted_through) \
            - (SELECT count(*) FROM queue_tokens d \
                WHERE d.concert_id = t.concert_id AND d.departed_waiting \
                  AND d.seq > q.admitted_through AND d.seq < t.seq) \
            - (SELECT count(*) FROM queue_tokens i \
                WHERE i.concert_id = t.concert_id AND i.status = 'WAITING' \
                  AND i.last_polled_at <= {idle} \
                  AND i.seq > q.admitted_through AND i.seq < t.seq) \
        END AS position, \
        (SELECT coalesce(sum(a.admitted), 0)::bigint FROM queue_admissions a \
          WHERE a.concert_id = t.concert_id AND a.admitted_at > now() - interval '60 seconds') \
            AS admitted_last_minute \
    FROM queue_tokens t \
    JOIN concert_queues q ON q.concert_id = t.concert_id \
    CROSS JOIN LATERAL (SELECT {status} AS status) e \
    WHERE {filter}";

/// Template: tokens with their effective status only, for the queue gate (no place in line: two
/// relations to plan instead of five).
const TOKEN: &str = "\
    SELECT t.id, t.user_id, t.concert_id, t.seq, t.issued_at, t.active_until, \
        {status} AS status, \
        NULL::bigint AS position, 0::bigint AS admitted_last_minute \
    FROM queue_tokens t \
    JOIN concert_queues q ON q.concert_id = t.concert_id \
    WHERE {filter}";

/// A batch of polls in one statement: keeps the WAITING places of the callers' own tokens alive
/// (never reviving one that already timed out; only when not refreshed within the touch
/// cutoff), and reads every token's standing. `$1` token ids, `$2` the callers' user ids.
/// The select reads the statement's snapshot, from before the touch: the touch cannot change
/// an answer (the token was not idle, or it is not touched).
const POLL_BATCH: &str = "\
    WITH keys AS (SELECT * FROM unnest($1::uuid[], $2::bigint[]) AS k(id, user_id)), \
    touched AS ( \
        UPDATE queue_tokens u SET last_polled_at = now() FROM keys \
        WHERE u.id = keys.id AND u.user_id = keys.user_id AND u.id = ANY($1) \
          AND u.status = 'WAITING' \
          AND u.last_polled_at > {idle} AND u.last_polled_at <= {touch} \
        RETURNING u.id) \
    {standing}";

/// The standing statement for `filter` (`t.id = $1`, `t.id = ANY($1)`).
pub(crate) fn standing_sql(policy: QueuePolicy, filter: &str) -> String {
    fill(
        &STANDING.replace("{status}", EFFECTIVE_STATUS),
        policy,
        filter,
    )
}

/// The gate's token statement for `filter`.
fn token_sql(policy: QueuePolicy, filter: &str) -> String {
    fill(&TOKEN.replace("{status}", EFFECTIVE_STATUS), policy, filter)
}

/// The batched poll statement.
fn poll_batch_sql(policy: QueuePolicy) -> String {
    fill(
        &POLL_BATCH.replace(
            "{standing}",
            &STANDING.replace("{status}", EFFECTIVE_STATUS),
        ),
        policy,
        "t.id = ANY($1)",
    )
}

/// Counts and settings per concert. Append a WHERE on `q`.
const STATS: &str = "\
    SELECT q.concert_id, q.admit_batch, q.max_active, q.paused, \
        greatest(0, (q.next_seq - q.admitted_through) \
            - (SELECT count(*) FROM queue_tokens d \
                WHERE d.concert_id = q.concert_id AND d.departed_waiting \
                  AND d.seq > q.admitted_through) \
            - (SELECT count(*) FROM queue_tokens i \
                WHERE i.concert_id = q.concert_id AND i.status = 'WAITING' \
                  AND i.last_polled_at <= {idle} \
                  AND i.seq > q.admitted_through))::bigint AS waiting, \
        (SELECT count(*) FROM queue_tokens a \
          WHERE a.concert_id = q.concert_id AND a.status = 'ACTIVE' \
            AND a.active_until > now()) AS active, \
        (SELECT coalesce(sum(x.admitted), 0)::bigint FROM queue_admissions x \
          WHERE x.concert_id = q.concert_id AND x.admitted_at > now() - interval '60 seconds') \
            AS admitted_last_minute \
    FROM concert_queues q";

async fn stats_of(
    conn: &mut AsyncPgConnection,
    concert_id: Option<ConcertId>,
    policy: QueuePolicy,
) -> diesel::QueryResult<Vec<StatsRow>> {
    let stats = fill(STATS, policy, "");
    match concert_id {
        Some(id) => {
            crate::sql::sql_query(format!("{stats} WHERE q.concert_id = $1"))
                .bind::<BigInt, _>(id.get())
                .load(conn)
                .await
        }
        None => {
            crate::sql::sql_query(format!("{stats} ORDER BY q.concert_id"))
                .load(conn)
                .await
        }
    }
}

/// Marks a stored-live token EXPIRED; `departed_waiting` records that it left the line waiting.
const EXPIRE_TOKEN: &str = "\
    UPDATE queue_tokens SET status = 'EXPIRED', departed_waiting = (status = 'WAITING') \
    WHERE id = $1 AND status IN ('WAITING', 'ACTIVE')";

/// How long an admission tick waits for another instance's tick of the same concert before
/// skipping that concert (milliseconds, as `lock_timeout` takes it).
const ADMISSION_WAIT_MS: &str = "2000";

/// Admission, step 1: bound the wait for the concert's lock (`$1` milliseconds), and plan this
/// tick's statements for their actual values: a cached generic plan of the pick cannot know the
/// quota (`LIMIT $3`) and plans for a tenth of the line (258 ms at 1M waiting instead of 4 ms,
/// `scripts/queue-plans.sh`). Planning once per tick costs well under a millisecond.
const ADMIT_LOCK_TIMEOUT: &str = "SELECT set_config('lock_timeout', $1, true), \
    set_config('plan_cache_mode', 'force_custom_plan', true)";
/// Admission, step 2: one admitter per concert; `$1` concert id.
const ADMIT_LOCK: &str = "SELECT pg_advisory_xact_lock($1)";
/// Admission, step 3: the line's counters and settings, its slot record, the unexpired ACTIVE
/// count and the transaction's clock; `$1` concert id.
const ADMIT_LINE: &str = "\
    SELECT q.admitted_through, q.admit_batch, q.max_active, q.paused, \
        q.admission_slot, q.admitted_in_slot, now() AS now, \
        (SELECT count(*) FROM queue_tokens a WHERE a.concert_id = q.concert_id \
           AND a.status = 'ACTIVE' AND a.active_until > now()) AS active \
    FROM concert_queues q WHERE q.concert_id = $1";
/// Admission, step 4 (template): activate the oldest live WAITING tokens; `$1` concert id, `$2`
/// admitted_through, `$3` quota, `$4` active TTL (µs).
const ADMIT_PICK: &str = "\
    WITH picked AS ( \
        SELECT id FROM queue_tokens \
        WHERE concert_id = $1 AND status = 'WAITING' AND seq > $2 \
          AND last_polled_at > {idle} \
        ORDER BY seq LIMIT $3 FOR UPDATE) \
    UPDATE queue_tokens t SET status = 'ACTIVE', admitted_at = now(), \
        active_until = now() + $4::float8 * interval '1 microsecond' \
    FROM picked WHERE t.id = picked.id \
    RETURNING t.seq AS value";
/// Admission, step 5: move the line's front and record the slot; `$1` concert id, `$2` highest
/// admitted seq, `$3` the slot's start, `$4` admitted in that slot so far (this tick included).
const ADMIT_ADVANCE: &str = "\
    UPDATE concert_queues SET admitted_through = greatest(admitted_through, $2), \
        admission_slot = $3, admitted_in_slot = $4 \
    WHERE concert_id = $1";
/// Admission, step 6: record the tick for the admission rate; `$1` concert id, `$2` count.
const ADMIT_RECORD: &str = "INSERT INTO queue_admissions (concert_id, admitted) VALUES ($1, $2)";
/// Admission, step 7: forget ticks older than the rate window needs; `$1` concert id.
const ADMIT_PRUNE: &str = "\
    DELETE FROM queue_admissions \
    WHERE concert_id = $1 AND admitted_at <= now() - interval '120 seconds'";

/// Admission, step 0: the concerts a tick may admit from: someone in line, not paused, and a
/// slot that has not admitted its batch yet (a recorded slot that started an interval or more
/// ago has ended); `$1` the admit interval (µs), `$2` the default batch. Only a filter: the
/// decision is taken under the concert's lock.
const ADMIT_CANDIDATES: &str = "\
    SELECT concert_id AS value FROM concert_queues \
    WHERE NOT paused AND next_seq > admitted_through \
      AND (admission_slot IS NULL \
           OR admission_slot <= now() - $1::float8 * interval '1 microsecond' \
           OR admitted_in_slot < coalesce(admit_batch, $2)) \
    ORDER BY concert_id";

/// Another admitter held the concert's lock for longer than [`ADMISSION_WAIT_MS`].
#[derive(Debug)]
struct Busy;

/// Admits one concert's oldest waiting tokens; 0 when paused, full, or when this admission slot
/// already admitted its batch.
async fn admit_concert(
    conn: &mut AsyncPgConnection,
    concert_id: i64,
    policy: QueuePolicy,
) -> Result<u64, Fail<Busy>> {
    #[derive(diesel::QueryableByName)]
    struct Line {
        #[diesel(sql_type = BigInt)]
        admitted_through: i64,
        #[diesel(sql_type = Nullable<Integer>)]
        admit_batch: Option<i32>,
        #[diesel(sql_type = Nullable<Integer>)]
        max_active: Option<i32>,
        #[diesel(sql_type = Bool)]
        paused: bool,
        #[diesel(sql_type = Nullable<Timestamptz>)]
        admission_slot: Option<Timestamp>,
        #[diesel(sql_type = Integer)]
        admitted_in_slot: i32,
        #[diesel(sql_type = Timestamptz)]
        now: Timestamp,
        #[diesel(sql_type = BigInt)]
        active: i64,
    }
    // One admitter per concert at a time: a tick running elsewhere finishes first (it takes
    // milliseconds), then this one sees its result. Skip the concert if that takes too long.
    crate::sql::sql_query(ADMIT_LOCK_TIMEOUT)
        .bind::<Text, _>(ADMISSION_WAIT_MS)
        .execute(conn)
        .await?;
    match crate::sql::sql_query(ADMIT_LOCK)
        .bind::<BigInt, _>(concert_id)
        .execute(conn)
        .await
    {
        Ok(_) => {}
        Err(e) if is_lock_timeout(&e) => return Err(Fail::Biz(Busy)),
        Err(e) => return Err(e.into()),
    }
    crate::sql::sql_query("SET LOCAL lock_timeout TO DEFAULT")
        .execute(conn)
        .await?;
    let line: Option<Line> = crate::sql::sql_query(ADMIT_LINE)
        .bind::<BigInt, _>(concert_id)
        .get_result(conn)
        .await
        .optional()?;
    let Some(line) = line else { return Ok(0) };
    let as_u32 =
        |v: Option<i32>, default: u32| v.map_or(default, |v| u32::try_from(v).unwrap_or(0));
    let settings = QueueSettings {
        admit_batch: as_u32(line.admit_batch, policy.admit_batch()),
        max_active: as_u32(line.max_active, policy.max_active()),
        paused: line.paused,
    };
    let slot = admission_slot(line.now, policy.admit_interval());
    let record = line.admission_slot.map(|slot| SlotRecord {
        slot,
        admitted: u64::try_from(line.admitted_in_slot).unwrap_or(0),
    });
    let active = u64::try_from(line.active).unwrap_or(0);
    // The pick's LIMIT stops at the end of the line: no need to count who is waiting.
    let quota = admission_quota(settings, active, u64::MAX).min(slot_room(
        settings.admit_batch,
        record,
        slot,
    ));
    if quota == 0 {
        return Ok(0);
    }
    let admitted: Vec<Int8> = crate::sql::sql_query(fill(ADMIT_PICK, policy, ""))
        .bind::<BigInt, _>(concert_id)
        .bind::<BigInt, _>(line.admitted_through)
        .bind::<BigInt, _>(i64::try_from(quota).unwrap_or(i64::MAX))
        .bind::<BigInt, _>(micros(policy.active_ttl()))
        .load(conn)
        .await?;
    let Some(through) = admitted.iter().map(|r| r.value).max() else {
        return Ok(0);
    };
    let count = u64::try_from(admitted.len()).unwrap_or(u64::MAX);
    let Some(recorded) = record_admission(record, slot, count) else {
        return Err(Fail::Store(StoreError::Internal(
            "an admission left no slot record".into(),
        )));
    };
    crate::sql::sql_query(ADMIT_ADVANCE)
        .bind::<BigInt, _>(concert_id)
        .bind::<BigInt, _>(through)
        .bind::<Timestamptz, _>(recorded.slot)
        .bind::<Integer, _>(i32::try_from(recorded.admitted).unwrap_or(i32::MAX))
        .execute(conn)
        .await?;
    crate::sql::sql_query(ADMIT_RECORD)
        .bind::<BigInt, _>(concert_id)
        .bind::<Integer, _>(i32::try_from(count).unwrap_or(i32::MAX))
        .execute(conn)
        .await?;
    crate::sql::sql_query(ADMIT_PRUNE)
        .bind::<BigInt, _>(concert_id)
        .execute(conn)
        .await?;
    Ok(count)
}

/// Rows of `sql` (one `$1` uuid array, an optional `$2` bigint array) keyed by token id.
pub(crate) async fn token_rows(
    reader: &Reader,
    sql: String,
    ids: Vec<Uuid>,
    users: Option<Vec<i64>>,
) -> Result<HashMap<Uuid, TokenRow>, StoreError> {
    let rows: Vec<TokenRow> = reader
        .read(|conn| {
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
    reader: Reader,
    keys: Vec<TokenKey>,
) -> Result<Vec<Option<TokenRow>>, StoreError> {
    let mut answers = vec![None; keys.len()];
    for (policy, members) in by_policy(keys.iter().map(|k| k.1)) {
        let (ids, _) = distinct(&members.iter().map(|&i| keys[i].0).collect::<Vec<_>>());
        let found = token_rows(&reader, token_sql(policy, "t.id = ANY($1)"), ids, None).await?;
        for i in members {
            answers[i] = found.get(&keys[i].0).cloned();
        }
    }
    Ok(answers)
}

/// The polls of one batch: one statement per policy (in practice one) that touches the callers'
/// own waiting tokens and reads every token's standing.
pub(crate) async fn polls_batch(
    reader: Reader,
    keys: Vec<PollKey>,
) -> Result<Vec<Option<TokenRow>>, StoreError> {
    let mut answers = vec![None; keys.len()];
    for (policy, members) in by_policy(keys.iter().map(|k| k.2)) {
        let (pairs, _) = distinct(
            &members
                .iter()
                .map(|&i| (keys[i].0, keys[i].1))
                .collect::<Vec<_>>(),
        );
        let (ids, users): (Vec<Uuid>, Vec<i64>) = pairs.into_iter().unzip();
        let found = token_rows(&reader, poll_batch_sql(policy), ids, Some(users)).await?;
        for i in members {
            answers[i] = found.get(&keys[i].0).cloned();
        }
    }
    Ok(answers)
}

/// Why a token does not belong to its caller: unknown, or someone else's.
fn access_error(owner: Option<i64>, user_id: UserId) -> Option<QueueTokenError> {
    match owner {
        None => Some(QueueAccessError::TokenRequired.into()),
        Some(owner) if owner != user_id.get() => Some(QueueAccessError::NotActive.into()),
        Some(_) => None,
    }
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
        let (row, created) = self
            .batches
            .joins
            .call((user_id.get(), concert_id.get(), token_id.get(), policy))
            .await??;
        Ok(Joined {
            standing: row.standing()?,
            created,
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
            .call((token_id.get(), user_id.get(), policy))
            .await?;
        if let Some(e) = access_error(row.as_ref().map(|r| r.user_id), user_id) {
            return Err(e);
        }
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
        let row = self.batches.tokens.call((token_id.get(), policy)).await?;
        row.map(|r| r.token()).transpose()
    }

    async fn leave(&self, token_id: QueueTokenId, user_id: UserId) -> Result<(), QueueTokenError> {
        self.tx(|conn| {
            Box::pin(async move {
                let owner: Option<Int8> = crate::sql::sql_query(
                    "SELECT user_id AS value FROM queue_tokens WHERE id = $1 FOR UPDATE",
                )
                .bind::<SqlUuid, _>(token_id.get())
                .get_result(conn)
                .await
                .optional()?;
                if let Some(e) = access_error(owner.map(|o| o.value), user_id) {
                    return Err(Fail::Biz(e));
                }
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

    async fn admit(&self, policy: QueuePolicy) -> Result<Vec<AdmissionReport>, StoreError> {
        let concerts: Vec<Int8> = self
            .read(|conn| {
                crate::sql::sql_query(ADMIT_CANDIDATES)
                    .bind::<BigInt, _>(micros(policy.admit_interval()))
                    .bind::<Integer, _>(i32::try_from(policy.admit_batch()).unwrap_or(i32::MAX))
                    .load(conn)
                    .boxed()
            })
            .await?;
        let mut reports = Vec::new();
        for concert in concerts {
            let admitted = match self
                .tx(|conn| admit_concert(conn, concert.value, policy).boxed())
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
            .read(|conn| {
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
        let n = self
            .read(|conn| {
                crate::sql::sql_query(format!(
                    "UPDATE queue_tokens SET status = 'EXPIRED', departed_waiting = true \
                     WHERE id IN ( \
                        SELECT id FROM queue_tokens \
                        WHERE status = 'WAITING' AND last_polled_at <= {} \
                        ORDER BY last_polled_at LIMIT {batch} FOR UPDATE SKIP LOCKED)",
                    cutoff(idle_timeout)
                ))
                .execute(conn)
                .boxed()
            })
            .await?;
        Ok(n as u64)
    }

    async fn stats(
        &self,
        concert_id: ConcertId,
        policy: QueuePolicy,
    ) -> Result<QueueStats, AdminQueueError> {
        let rows = self
            .read(|conn| stats_of(conn, Some(concert_id), policy).boxed())
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
        self.tx(|conn| {
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
            .read(|conn| stats_of(conn, None, policy).boxed())
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
            ("standing", "uuid", standing_sql(policy, "t.id = $1")),
            ("poll_batch", "uuid[], int8[]", poll_batch_sql(policy)),
            (
                "admin_stats",
                "int8",
                format!("{} WHERE q.concert_id = $1", fill(STATS, policy, "")),
            ),
            ("admit_lock_timeout", "text", ADMIT_LOCK_TIMEOUT.to_owned()),
            ("admit_lock", "int8", ADMIT_LOCK.to_owned()),
            ("admit_line", "int8", ADMIT_LINE.to_owned()),
            (
                "admit_pick",
                "int8, int8, int8, int8",
                fill(ADMIT_PICK, policy, ""),
            ),
            (
                "admit_candidates",
                "int8, int4",
                ADMIT_CANDIDATES.to_owned(),
            ),
            (
                "admit_advance",
                "int8, int8, timestamptz, int4",
                ADMIT_ADVANCE.to_owned(),
            ),
            ("admit_record", "int8, int4", ADMIT_RECORD.to_owned()),
            ("admit_prune", "int8", ADMIT_PRUNE.to_owned()),
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
