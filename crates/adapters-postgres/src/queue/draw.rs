//! The pre-queue draw: one transaction per concert whose draw is due. It locks the concert's
//! queue row on the condition `sale_draw_due(sale_opens_at, drawn_at)` (a guard function of the
//! schema), so of several instances ticking at the opening one draws and the others, once it
//! commits, find the condition false and skip: a concert is drawn exactly once.
//!
//! Renumbering: the pre-queue tokens took their `seq` at join as usual, so the line's counters
//! read `next_seq = S` with every token of the concert at or below `S` (a concert with an
//! opening has nobody in line before its draw: `domain::patch_sale` refuses to add an opening
//! once tokens were issued in an open sale). The draw gives the `N` live PRE_QUEUE tokens the
//! numbers `S + 1 + place` in the order [`domain::draw_places`] gives for the seed, makes them
//! WAITING, and moves `next_seq` to `S + N` and `admitted_through` to `S`: their positions are
//! exactly 1..N, and a later join takes `S + N + 1` onward, behind all of them. Idle pre-queue
//! tokens are left to the idle sweep (they stay at or below `admitted_through`, counted nowhere).

use super::statements::cutoff;
use crate::errors::Fail;
use crate::rows::Int8;
use diesel::sql_types::{Array, BigInt, Integer, Uuid as SqlUuid};
use diesel::{OptionalExtension, QueryableByName};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::{draw_places, seed_to_i64, QueuePolicy, StoreError};
use uuid::Uuid;

/// The concerts whose draw looks due (only a filter: the lock decides).
pub(super) const DRAW_CANDIDATES: &str = "\
    SELECT concert_id AS value FROM concert_queues \
    WHERE sale_draw_due(sale_opens_at, drawn_at) ORDER BY concert_id";

/// Step 1: lock the queue row if the draw is still due; `$1` concert. Its last issued seq.
const DRAW_LOCK: &str = "\
    SELECT next_seq AS value FROM concert_queues \
    WHERE concert_id = $1 AND sale_draw_due(sale_opens_at, drawn_at) FOR UPDATE";

/// Step 3: the drawn places; `$1` ids, `$2` their new seqs.
const DRAW_PLACE: &str = "\
    UPDATE queue_tokens t SET status = 'WAITING', seq = k.seq \
    FROM unnest($1::uuid[], $2::bigint[]) AS k(id, seq) \
    WHERE t.id = k.id AND t.id = ANY($1)";

/// Step 4: the line's counters and the draw's record; `$1` concert, `$2` drawn, `$3` seed.
const DRAW_RECORD: &str = "\
    WITH q AS (UPDATE concert_queues SET drawn_at = now(), next_seq = next_seq + $2, \
        admitted_through = next_seq WHERE concert_id = $1 RETURNING concert_id) \
    INSERT INTO queue_draws (concert_id, seed, drawn) SELECT concert_id, $3, $2 FROM q";

#[derive(QueryableByName)]
struct Entrant {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

/// Step 2: the live pre-queue in arrival order, locked; `$1` concert.
fn pre_queue(policy: QueuePolicy) -> String {
    format!(
        "SELECT id FROM queue_tokens \
         WHERE concert_id = $1 AND status = 'PRE_QUEUE' AND last_polled_at > {} \
         ORDER BY seq FOR UPDATE",
        cutoff(policy.idle_timeout())
    )
}

/// Draws one concert with `seed`, in the caller's transaction; `None` when its draw was not
/// due any more (another instance drew it first), else how many tokens it placed.
pub(super) async fn draw_concert(
    conn: &mut AsyncPgConnection,
    concert_id: i64,
    seed: u64,
    policy: QueuePolicy,
) -> Result<Option<u64>, Fail<StoreError>> {
    let locked: Option<Int8> = crate::sql::sql_query(DRAW_LOCK)
        .bind::<BigInt, _>(concert_id)
        .get_result(conn)
        .await
        .optional()?;
    let Some(last) = locked else {
        return Ok(None);
    };
    let entrants: Vec<Entrant> = crate::sql::sql_query(pre_queue(policy))
        .bind::<BigInt, _>(concert_id)
        .load(conn)
        .await?;
    let places = draw_places(seed, entrants.len());
    let ids: Vec<Uuid> = entrants.iter().map(|e| e.id).collect();
    let seqs: Vec<i64> = places
        .iter()
        .map(|&p| last.value + 1 + i64::try_from(p).unwrap_or(i64::MAX))
        .collect();
    let n = i32::try_from(ids.len())
        .map_err(|_| Fail::Store(StoreError::Internal("pre-queue too long".into())))?;
    if !ids.is_empty() {
        crate::sql::sql_query(DRAW_PLACE)
            .bind::<Array<SqlUuid>, _>(ids)
            .bind::<Array<BigInt>, _>(seqs)
            .execute(conn)
            .await?;
    }
    crate::sql::sql_query(DRAW_RECORD)
        .bind::<BigInt, _>(concert_id)
        .bind::<Integer, _>(n)
        .bind::<BigInt, _>(seed_to_i64(seed))
        .execute(conn)
        .await?;
    Ok(Some(u64::try_from(n).unwrap_or(0)))
}
