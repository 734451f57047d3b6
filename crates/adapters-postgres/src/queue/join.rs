//! Queue joins, coalesced: the joins waiting at one moment become one transaction.
//!
//! A ticket drop is a storm of joins, each a different user. One transaction per join paid a
//! BEGIN, an advisory lock, a lookup, a counter update, an insert and a COMMIT each (a round
//! trip apiece) and serialised every join to a concert on that concert's counter row until its
//! commit. A batch does the same steps once for all its joins:
//!
//! 1. advisory locks on every (user, concert) of the batch, in one sorted order (two batches
//!    never wait on each other in a cycle; a single join elsewhere takes the same lock);
//! 2. retires the users' tokens that are live in storage but expired by the database's clock;
//! 3. finds the users' live tokens: those joins answer 200 with the token they already hold;
//! 4. locks each concert's counter row (in concert order) and reads its sale window and whether
//!    its draw happened: [`domain::join_phase`] says whether the new tokens go to the pre-queue
//!    (PRE_QUEUE), to the line (WAITING) or nowhere (`SALE_CLOSED`); then takes a block of
//!    consecutive `seq` numbers from the row, in the order the joins arrived;
//! 5. inserts the new tokens, commits, and reads every answer's standing in one statement.
//!
//! Every join of the batch gets exactly the answer it would have got alone at that moment: the
//! line's order is the batch's arrival order, and the unique index `queue_tokens_one_live`
//! still backs the one-live-token rule.

use super::gate::token_rows;
use super::statements;
use crate::batch::{by_policy, distinct};
use crate::db::{Db, TxFuture};
use crate::errors::Fail;
use crate::locks;
use crate::requests::{JoinAnswer, JoinOutcome, JoinRequest};
use diesel::sql_types::{
    Array, BigInt, Bool, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid,
};
use diesel::OptionalExtension;
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::{
    join_phase, JoinPhase, JoinQueueError, QueuePolicy, SaleWindow, StoreError, Timestamp,
};
use futures::FutureExt;
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// What the transaction found for one distinct (user, concert).
#[derive(Debug, Clone, Copy)]
enum Found {
    NoSuchConcert,
    SaleClosed,
    Existing(Uuid),
    Issued(Uuid),
}

/// Step 1: `$1` users, `$2` concerts, `$3` the lock class.
const LOCK_PAIRS: &str = "\
    SELECT pg_advisory_xact_lock($3, h) FROM ( \
        SELECT DISTINCT hashtext(k.u::text || ':' || k.c::text) AS h \
        FROM unnest($1::bigint[], $2::bigint[]) AS k(u, c) ORDER BY 1) s";

/// Step 3: `$1` users, `$2` concerts.
const LIVE_TOKENS: &str = "\
    SELECT t.id, t.user_id, t.concert_id FROM queue_tokens t \
    JOIN unnest($1::bigint[], $2::bigint[]) AS k(u, c) \
      ON t.user_id = k.u AND t.concert_id = k.c \
    WHERE t.status IN ('PRE_QUEUE', 'WAITING', 'ACTIVE') AND t.user_id = ANY($1)";

/// Step 4a: `$1` concert: its sale window, whether it was drawn, and the clock; locks the row
/// (a draw or a window change of the concert waits for this join, or this join for them).
const SALE_OF: &str = "\
    SELECT sale_opens_at, sale_closes_at, drawn_at IS NOT NULL AS drawn, now() AS now \
    FROM concert_queues WHERE concert_id = $1 FOR UPDATE";

#[derive(QueryableByName)]
struct SaleOf {
    #[diesel(sql_type = Nullable<Timestamptz>)]
    sale_opens_at: Option<Timestamp>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    sale_closes_at: Option<Timestamp>,
    #[diesel(sql_type = Bool)]
    drawn: bool,
    #[diesel(sql_type = Timestamptz)]
    now: Timestamp,
}

/// Step 4b: `$1` concert, `$2` how many numbers; the last number of the block.
const TAKE_SEQS: &str = "\
    UPDATE concert_queues SET next_seq = next_seq + $2 WHERE concert_id = $1 \
    RETURNING next_seq AS value";

/// Step 5: `$1` ids, `$2` users, `$3` concerts, `$4` seqs, `$5` statuses.
const INSERT_TOKENS: &str = "\
    INSERT INTO queue_tokens (id, user_id, concert_id, seq, status) \
    SELECT id, u, c, seq, st \
    FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[]) \
        AS k(id, u, c, seq, st)";

/// The tokens a batch issues, column by column (step 5's arrays).
#[derive(Default)]
struct NewTokens {
    ids: Vec<Uuid>,
    users: Vec<i64>,
    concerts: Vec<i64>,
    seqs: Vec<i64>,
    statuses: Vec<&'static str>,
}

#[derive(QueryableByName)]
struct Live {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = BigInt)]
    user_id: i64,
    #[diesel(sql_type = BigInt)]
    concert_id: i64,
}

/// The joins of one batch: one transaction and one standing read per policy (in practice one).
pub(crate) async fn joins_batch(
    db: Db,
    joins: Vec<JoinRequest>,
) -> Result<Vec<JoinAnswer>, StoreError> {
    let mut answers: Vec<JoinAnswer> = vec![
        Err(JoinQueueError::Store(StoreError::Internal(
            "join left unanswered".into()
        )));
        joins.len()
    ];
    for (policy, members) in by_policy(joins.iter().map(|j| j.policy)) {
        let pairs: Vec<(i64, i64)> = members
            .iter()
            .map(|&i| (joins[i].user, joins[i].concert))
            .collect();
        let (distinct_pairs, slots) = distinct(&pairs);
        // Each distinct pair's new id: its first join's.
        let mut new_ids = vec![Uuid::nil(); distinct_pairs.len()];
        for (j, &slot) in slots.iter().enumerate().rev() {
            new_ids[slot] = joins[members[j]].new_token;
        }
        let outcomes = db
            .transaction(|conn| {
                join_tx(conn, distinct_pairs.clone(), new_ids.clone(), policy).boxed()
            })
            .await
            .map_err(|e: Fail<StoreError>| e.into_error())?;
        let ids: Vec<Uuid> = outcomes
            .iter()
            .filter_map(|o| match o {
                Found::Existing(id) | Found::Issued(id) => Some(*id),
                Found::NoSuchConcert | Found::SaleClosed => None,
            })
            .collect();
        let rows = if ids.is_empty() {
            HashMap::new()
        } else {
            token_rows(
                &db,
                statements::standing(policy, "t.id = ANY($1)"),
                ids,
                None,
            )
            .await?
        };
        let mut issued_answered = vec![false; distinct_pairs.len()];
        for (j, &i) in members.iter().enumerate() {
            let slot = slots[j];
            answers[i] = match outcomes[slot] {
                Found::NoSuchConcert => Err(JoinQueueError::ConcertNotFound),
                Found::SaleClosed => Err(JoinQueueError::SaleClosed),
                Found::Existing(id) | Found::Issued(id) => {
                    let created = matches!(outcomes[slot], Found::Issued(_))
                        && !std::mem::replace(&mut issued_answered[slot], true);
                    rows.get(&id)
                        .cloned()
                        .map(|row| JoinOutcome { row, created })
                        .ok_or_else(|| StoreError::Internal("queue token vanished".into()).into())
                }
            };
        }
    }
    Ok(answers)
}

/// Steps 1-5 for distinct (user, concert) pairs and their would-be new ids.
fn join_tx(
    conn: &mut AsyncPgConnection,
    pairs: Vec<(i64, i64)>,
    new_ids: Vec<Uuid>,
    policy: QueuePolicy,
) -> TxFuture<'_, Vec<Found>, StoreError> {
    Box::pin(async move {
        let (users, concerts): (Vec<i64>, Vec<i64>) = pairs.iter().copied().unzip();
        crate::sql::sql_query(LOCK_PAIRS)
            .bind::<Array<BigInt>, _>(users.clone())
            .bind::<Array<BigInt>, _>(concerts.clone())
            .bind::<Integer, _>(locks::JOIN)
            .execute(conn)
            .await?;
        crate::sql::sql_query(statements::retire_expired(policy))
            .bind::<Array<BigInt>, _>(users.clone())
            .bind::<Array<BigInt>, _>(concerts.clone())
            .execute(conn)
            .await?;
        let live: Vec<Live> = crate::sql::sql_query(LIVE_TOKENS)
            .bind::<Array<BigInt>, _>(users)
            .bind::<Array<BigInt>, _>(concerts)
            .load(conn)
            .await?;
        let live: HashMap<(i64, i64), Uuid> = live
            .into_iter()
            .map(|l| ((l.user_id, l.concert_id), l.id))
            .collect();
        let mut outcomes: Vec<Option<Found>> = pairs
            .iter()
            .map(|pair| live.get(pair).map(|&id| Found::Existing(id)))
            .collect();
        // New tokens, per concert in concert order, numbered in arrival order.
        let mut wanted: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
        for (p, pair) in pairs.iter().enumerate() {
            if outcomes[p].is_none() {
                wanted.entry(pair.1).or_default().push(p);
            }
        }
        let mut insert = NewTokens::default();
        for (concert, waiting) in wanted {
            let sale: Option<SaleOf> = crate::sql::sql_query(SALE_OF)
                .bind::<BigInt, _>(concert)
                .get_result(conn)
                .await
                .optional()?;
            let Some(sale) = sale else {
                for &p in &waiting {
                    outcomes[p] = Some(Found::NoSuchConcert);
                }
                continue;
            };
            let window = SaleWindow::new(sale.sale_opens_at, sale.sale_closes_at)
                .map_err(|e| Fail::Store(crate::errors::bad_row("sale window", e)))?;
            let status = match join_phase(window, sale.drawn, sale.now) {
                JoinPhase::Closed => {
                    for &p in &waiting {
                        outcomes[p] = Some(Found::SaleClosed);
                    }
                    continue;
                }
                JoinPhase::PreQueue => "PRE_QUEUE",
                JoinPhase::Line => "WAITING",
            };
            let n = i64::try_from(waiting.len()).unwrap_or(i64::MAX);
            let last: Option<crate::rows::Int8> = crate::sql::sql_query(TAKE_SEQS)
                .bind::<BigInt, _>(concert)
                .bind::<BigInt, _>(n)
                .get_result(conn)
                .await
                .map(Some)
                .or_else(|e| match e {
                    diesel::result::Error::NotFound => Ok(None),
                    e => Err(e),
                })?;
            for (k, &p) in waiting.iter().enumerate() {
                outcomes[p] = Some(match &last {
                    None => Found::NoSuchConcert,
                    Some(last) => {
                        let seq = last.value - n + 1 + i64::try_from(k).unwrap_or(0);
                        insert.ids.push(new_ids[p]);
                        insert.users.push(pairs[p].0);
                        insert.concerts.push(concert);
                        insert.seqs.push(seq);
                        insert.statuses.push(status);
                        Found::Issued(new_ids[p])
                    }
                });
            }
        }
        if !insert.ids.is_empty() {
            crate::sql::sql_query(INSERT_TOKENS)
                .bind::<Array<SqlUuid>, _>(insert.ids)
                .bind::<Array<BigInt>, _>(insert.users)
                .bind::<Array<BigInt>, _>(insert.concerts)
                .bind::<Array<BigInt>, _>(insert.seqs)
                .bind::<Array<Text>, _>(insert.statuses)
                .execute(conn)
                .await?;
        }
        Ok(outcomes
            .into_iter()
            .map(|o| o.unwrap_or(Found::NoSuchConcert))
            .collect())
    })
}
