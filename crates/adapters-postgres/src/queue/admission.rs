//! Admission: one transaction per concert, under `pg_advisory_xact_lock(concert_id)` (see the
//! module docs of `queue/mod.rs` for why the cap and FIFO hold, and how the admission slot
//! bounds every instance together).

use super::statements;
use crate::errors::{is_lock_timeout, Fail};
use crate::rows::{micros, Int8};
use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text, Timestamptz};
use diesel::OptionalExtension;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::{
    admission_quota, admission_slot, record_admission, slot_room, QueuePolicy, QueueSettings,
    SlotRecord, StoreError, Timestamp,
};

/// How long an admission tick waits for another instance's tick of the same concert before
/// skipping that concert (milliseconds, as `lock_timeout` takes it).
const ADMISSION_WAIT_MS: &str = "2000";

/// Admission, step 1: bound the wait for the concert's lock (`$1` milliseconds), and plan this
/// tick's statements for their actual values: a cached generic plan of the pick cannot know the
/// quota (`LIMIT $3`) and plans for a tenth of the line (258 ms at 1M waiting instead of 4 ms,
/// `scripts/queue-plans.sh`). Planning once per tick costs well under a millisecond.
pub(super) const ADMIT_LOCK_TIMEOUT: &str = "SELECT set_config('lock_timeout', $1, true), \
    set_config('plan_cache_mode', 'force_custom_plan', true)";
/// Admission, step 2: one admitter per concert; `$1` concert id.
pub(super) const ADMIT_LOCK: &str = "SELECT pg_advisory_xact_lock($1)";
/// Admission, step 5: move the line's front and record the slot; `$1` concert id, `$2` highest
/// admitted seq, `$3` the slot's start, `$4` admitted in that slot so far (this tick included).
pub(super) const ADMIT_ADVANCE: &str = "\
    UPDATE concert_queues SET admitted_through = greatest(admitted_through, $2), \
        admission_slot = $3, admitted_in_slot = $4 \
    WHERE concert_id = $1";
/// Admission, step 6: record the tick for the admission rate; `$1` concert id, `$2` count.
pub(super) const ADMIT_RECORD: &str =
    "INSERT INTO queue_admissions (concert_id, admitted) VALUES ($1, $2)";
/// Admission, step 7: forget ticks older than the rate window needs; `$1` concert id.
pub(super) const ADMIT_PRUNE: &str = "\
    DELETE FROM queue_admissions \
    WHERE concert_id = $1 AND admitted_at <= now() - interval '120 seconds'";

/// Another admitter held the concert's lock for longer than [`ADMISSION_WAIT_MS`].
#[derive(Debug)]
pub(super) struct Busy;

/// Admits one concert's oldest waiting tokens; 0 when paused, full, or when this admission slot
/// already admitted its batch.
pub(super) async fn admit_concert(
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
    let line: Option<Line> = crate::sql::sql_query(statements::admit_line())
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
    let admitted: Vec<Int8> = crate::sql::sql_query(statements::admit_pick(policy))
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
