//! The store's coalesced reads (see `batch.rs` for how calls become batches): the queue gate's
//! token read, the poll, the join, the hold and the payment (writes: see `join.rs`,
//! `hold_batch.rs` and `pay_batch.rs`), a
//! schedule's concert and seats, a reservation, an idempotency record. Each is one statement per
//! batch, `WHERE id = ANY($1)`, and answers every caller exactly what its own statement would
//! have.

use crate::batch::{BatchFn, Batcher, Limits};
use crate::hold_batch::{HoldAnswer, HoldKey};
use crate::join::{JoinAnswer, JoinKey};
use crate::pay_batch::{PayAnswer, PayKey};
use crate::pool::Reader;
use crate::rows::{IdempotencyRow, ScheduleRow, SeatRow, TokenRow};
use domain::{QueuePolicy, Reservation, StoreError};
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Most keys in one statement.
const MAX_BATCH: usize = 256;

/// How many full batches per slot may wait in one kind's queue: beyond
/// `slots × MAX_BATCH × QUEUED_BATCHES_PER_SLOT` callers (2,048 with a pool of 8 to 23
/// connections) a call is answered `Unavailable` at once rather than queued behind work that
/// would outlast its request.
const QUEUED_BATCHES_PER_SLOT: usize = 4;

/// The most callers of one kind waiting for a batch, for `slots` batch slots.
pub(crate) const fn max_waiting(slots: usize) -> usize {
    slots * MAX_BATCH * QUEUED_BATCHES_PER_SLOT
}

/// A gate read: the token, and the policy its effective status is judged by.
pub(crate) type TokenKey = (Uuid, QueuePolicy);

/// A poll: the token, its caller (only the owner's poll keeps the place alive) and the policy.
pub(crate) type PollKey = (Uuid, i64, QueuePolicy);

/// A schedule's header and its seats with their availability.
pub(crate) type ScheduleSeatRows = (ScheduleRow, Vec<SeatRow>);

/// One batcher per coalesced read.
pub(crate) struct Batches {
    pub(crate) tokens: Batcher<TokenKey, Option<TokenRow>>,
    pub(crate) polls: Batcher<PollKey, Option<TokenRow>>,
    pub(crate) joins: Batcher<JoinKey, JoinAnswer>,
    pub(crate) holds: Batcher<HoldKey, HoldAnswer>,
    pub(crate) payments: Batcher<PayKey, PayAnswer>,
    pub(crate) reservations: Batcher<(i64, Uuid), Option<Reservation>>,
    pub(crate) idempotency_records: Batcher<(i64, String), Option<IdempotencyRow>>,
    pub(crate) schedule_concerts: Batcher<i64, Option<i64>>,
    pub(crate) schedule_seats: Batcher<i64, Option<ScheduleSeatRows>>,
}

impl Batches {
    /// The batchers, each running at most `slots` statements at once on `reader`'s pool, each
    /// caller waiting at most `timeout` (the store's operation timeout) for its answer.
    pub(crate) fn new(reader: &Reader, slots: usize, timeout: Duration) -> Self {
        let limits = Limits {
            slots,
            max_batch: MAX_BATCH,
            max_waiting: max_waiting(slots),
            timeout,
        };
        Self {
            tokens: batcher(reader, limits, crate::queue::tokens_batch),
            polls: batcher(reader, limits, crate::queue::polls_batch),
            joins: batcher(reader, limits, crate::join::joins_batch),
            holds: batcher(reader, limits, crate::hold_batch::holds_batch),
            payments: batcher(reader, limits, crate::pay_batch::payments_batch),
            reservations: batcher(reader, limits, crate::reservations::reservations_batch),
            idempotency_records: batcher(reader, limits, crate::wallet::idempotency_records_batch),
            schedule_concerts: batcher(reader, limits, crate::catalogue::schedule_concerts_batch),
            schedule_seats: batcher(reader, limits, crate::catalogue::schedule_seats_batch),
        }
    }
}

/// A batcher that runs `run` with its own handle on `reader`'s pool, bound to the batch's
/// callers (their deadline, and whether they are still there before each commit).
fn batcher<K, V, F>(reader: &Reader, limits: Limits, run: fn(Reader, Vec<K>) -> F) -> Batcher<K, V>
where
    K: Clone + Send + 'static,
    V: Send + 'static,
    F: Future<Output = Result<Vec<V>, StoreError>> + Send + 'static,
{
    let reader = reader.clone();
    let run: BatchFn<K, V> =
        Arc::new(move |keys, scope| Box::pin(run(reader.in_batch(scope), keys)));
    Batcher::new(limits, run)
}

/// The distinct values of `keys` in first-seen order, and for each key the index of its value
/// there: a batch asks the database once per distinct key.
pub(crate) fn distinct<T: Clone + Eq + Hash>(keys: &[T]) -> (Vec<T>, Vec<usize>) {
    let mut index = HashMap::with_capacity(keys.len());
    let mut values = Vec::new();
    let slots = keys
        .iter()
        .map(|k| {
            *index.entry(k.clone()).or_insert_with(|| {
                values.push(k.clone());
                values.len() - 1
            })
        })
        .collect();
    (values, slots)
}

/// Splits a batch by policy (in practice a process has one, so this is one group): the indexes
/// of the keys of each distinct policy.
pub(crate) fn by_policy(
    policies: impl IntoIterator<Item = QueuePolicy>,
) -> Vec<(QueuePolicy, Vec<usize>)> {
    let mut groups: Vec<(QueuePolicy, Vec<usize>)> = Vec::new();
    for (i, policy) in policies.into_iter().enumerate() {
        match groups.iter_mut().find(|(p, _)| *p == policy) {
            Some((_, members)) => members.push(i),
            None => groups.push((policy, vec![i])),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_keeps_first_seen_order_and_maps_each_key() {
        let (values, slots) = distinct(&[7, 3, 7, 9, 3]);
        assert_eq!(values, vec![7, 3, 9]);
        assert_eq!(slots, vec![0, 1, 0, 2, 1]);
    }
}
