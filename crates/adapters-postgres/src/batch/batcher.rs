//! The [`Batcher`]: concurrent calls of one kind become one batch (see the folder's docs).

use super::scope::{BatchScope, Presence};
use domain::StoreError;
use futures::future::BoxFuture;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{oneshot, Semaphore};
use tokio::time::Instant;

/// Runs one batch: the answer for each key, in the keys' order.
pub(crate) type BatchFn<K, V> =
    Arc<dyn Fn(Vec<K>, BatchScope) -> BoxFuture<'static, Result<Vec<V>, StoreError>> + Send + Sync>;

/// The answer channel of a caller.
type Reply<V> = oneshot::Sender<Result<V, StoreError>>;

/// A caller's key, where its answer goes, its deadline, and whether a batch has taken it.
struct Waiter<K, V> {
    key: K,
    reply: Reply<V>,
    deadline: Instant,
    taken: Arc<AtomicBool>,
}

/// The replies of a running batch, shared with its [`BatchScope`] (to see who left).
struct Replies<V>(Mutex<Vec<Reply<V>>>);

impl<V: Send> Presence for Replies<V> {
    fn all_present(&self) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .all(|r| !r.is_closed())
    }
}

/// Coalesces concurrent calls into batches of at most `max_batch` keys, `slots` batches at once,
/// with at most `max_waiting` callers waiting to be taken into a batch.
pub(crate) struct Batcher<K, V> {
    pending: Mutex<VecDeque<Waiter<K, V>>>,
    slots: Arc<Semaphore>,
    limits: Limits,
    run: BatchFn<K, V>,
}

/// Most keys in one batch (one statement's arrays).
const MAX_BATCH: usize = 256;

/// How many full batches per slot may wait in one kind's queue: beyond
/// `slots × MAX_BATCH × QUEUED_BATCHES_PER_SLOT` callers (2,048 with a pool of 8 to 23
/// connections) a call is answered `Unavailable` at once rather than queued behind work that
/// would outlast its request.
const QUEUED_BATCHES_PER_SLOT: usize = 4;

/// A batcher's bounds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Most batches running at once.
    pub(crate) slots: usize,
    /// Most keys in one batch.
    pub(crate) max_batch: usize,
    /// Most callers waiting to be taken into a batch; more are refused at once.
    pub(crate) max_waiting: usize,
    /// How long a caller may wait for its answer, batch included.
    pub(crate) timeout: Duration,
}

impl Limits {
    /// The store's bounds: `slots` batches at once, [`MAX_BATCH`] keys each, a bounded queue,
    /// and `timeout` (the store's operation timeout) for each caller.
    pub(crate) const fn new(slots: usize, timeout: Duration) -> Self {
        Self {
            slots,
            max_batch: MAX_BATCH,
            max_waiting: slots * MAX_BATCH * QUEUED_BATCHES_PER_SLOT,
            timeout,
        }
    }
}

/// The answer of a caller refused because the queue of its kind is full.
fn overloaded(max_waiting: usize) -> StoreError {
    StoreError::Unavailable(format!(
        "overloaded: {max_waiting} calls of this kind are already waiting"
    ))
}

/// The answer of a caller whose deadline passed before its batch could start.
fn expired() -> StoreError {
    StoreError::Unavailable("database operation timed out (waiting for a batch)".into())
}

impl<K, V> Batcher<K, V>
where
    K: Clone + Send + 'static,
    V: Send + 'static,
{
    /// A batcher that runs `run` on the keys of waiting callers within `limits`.
    pub(crate) fn new(limits: Limits, run: BatchFn<K, V>) -> Self {
        Self {
            pending: Mutex::new(VecDeque::new()),
            slots: Arc::new(Semaphore::new(limits.slots.max(1))),
            limits: Limits {
                slots: limits.slots.max(1),
                max_batch: limits.max_batch.max(1),
                max_waiting: limits.max_waiting.max(1),
                timeout: limits.timeout,
            },
            run,
        }
    }

    /// The answer for `key`, computed in a batch with whatever other calls are waiting.
    ///
    /// # Errors
    /// The batch's error; `Unavailable` at once when the queue is full, or when the caller's
    /// deadline passes before a batch takes it.
    pub(crate) async fn call(&self, key: K) -> Result<V, StoreError> {
        let (reply, mut answer) = oneshot::channel();
        let deadline = Instant::now() + self.limits.timeout;
        let taken = Arc::new(AtomicBool::new(false));
        self.enqueue(Waiter {
            key,
            reply,
            deadline,
            taken: Arc::clone(&taken),
        })?;
        loop {
            if taken.load(Ordering::SeqCst) {
                // In a batch already: only the answer is left to wait for (the batch itself
                // stops at the deadline).
                return answer.await.unwrap_or_else(|_| Err(dropped()));
            }
            tokio::select! {
                biased;
                result = &mut answer => return result.unwrap_or_else(|_| Err(dropped())),
                permit = self.slots.clone().acquire_owned() => {
                    let Ok(permit) = permit else { return Err(dropped()) };
                    let batch = self.take();
                    if batch.is_empty() {
                        continue;
                    }
                    let run = Arc::clone(&self.run);
                    tokio::spawn(async move {
                        let _slot = permit;
                        deliver(run, batch).await;
                    });
                }
                () = tokio::time::sleep_until(deadline), if !taken.load(Ordering::SeqCst) => {
                    // Still queued at the deadline: give up (the waiter, its receiver now
                    // closed, is skipped when taken). A batch that took it just now answers.
                    if taken.load(Ordering::SeqCst) {
                        continue;
                    }
                    return Err(expired());
                }
            }
        }
    }

    /// Queues a caller, or refuses it when `max_waiting` live callers already wait.
    fn enqueue(&self, waiter: Waiter<K, V>) -> Result<(), StoreError> {
        let mut pending = self.lock();
        if pending.len() >= self.limits.max_waiting {
            // Callers that gave up still hold places until a batch passes them: drop them now.
            pending.retain(|w| !w.reply.is_closed());
            if pending.len() >= self.limits.max_waiting {
                return Err(overloaded(self.limits.max_waiting));
            }
        }
        pending.push_back(waiter);
        Ok(())
    }

    /// Takes up to `max_batch` of the oldest callers still waiting; callers that left are
    /// dropped and callers past their deadline are answered `Unavailable` on the way.
    fn take(&self) -> Vec<Waiter<K, V>> {
        let mut pending = self.lock();
        let now = Instant::now();
        let mut batch = Vec::new();
        while batch.len() < self.limits.max_batch {
            let Some(waiter) = pending.pop_front() else {
                break;
            };
            waiter.taken.store(true, Ordering::SeqCst);
            if waiter.reply.is_closed() {
                continue;
            }
            if waiter.deadline <= now {
                let _ = waiter.reply.send(Err(expired()));
                continue;
            }
            batch.push(waiter);
        }
        batch
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Waiter<K, V>>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Runs one batch and hands each caller its answer (the batch's error to all if it failed). When
/// a transaction of the batch rolled back because a caller left, the batch runs again for the
/// callers still there.
async fn deliver<K, V>(run: BatchFn<K, V>, mut batch: Vec<Waiter<K, V>>)
where
    K: Clone + Send + 'static,
    V: Send + 'static,
{
    loop {
        batch.retain(|w| !w.reply.is_closed());
        let Some(deadline) = batch.iter().map(|w| w.deadline).min() else {
            return;
        };
        let keys: Vec<K> = batch.iter().map(|w| w.key.clone()).collect();
        let (members, replies): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .map(|w| ((w.key, w.deadline, w.taken), w.reply))
            .unzip();
        let replies = Arc::new(Replies(Mutex::new(replies)));
        let scope = BatchScope::new(deadline, replies.clone());
        let result = run(keys, scope.clone()).await;
        let replies =
            std::mem::take(&mut *replies.0.lock().unwrap_or_else(PoisonError::into_inner));
        if scope.was_abandoned() {
            tracing::debug!("a caller left before its batch committed; running the batch again");
            batch = members
                .into_iter()
                .zip(replies)
                .map(|((key, deadline, taken), reply)| Waiter {
                    key,
                    reply,
                    deadline,
                    taken,
                })
                .collect();
            continue;
        }
        answer(replies, result);
        return;
    }
}

/// Sends each caller its answer.
fn answer<V>(replies: Vec<Reply<V>>, result: Result<Vec<V>, StoreError>) {
    let expected = replies.len();
    match result {
        Ok(values) if values.len() == expected => {
            for (reply, value) in replies.into_iter().zip(values) {
                let _ = reply.send(Ok(value));
            }
        }
        Ok(values) => {
            let e = StoreError::Internal(format!(
                "a batch of {expected} answered {} times",
                values.len()
            ));
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
        Err(e) => {
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

fn dropped() -> StoreError {
    StoreError::Unavailable("the batch was dropped (shutting down)".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    type Seen = Arc<Mutex<Vec<Vec<u32>>>>;

    fn limits(slots: usize, max_batch: usize) -> Limits {
        Limits {
            slots,
            max_batch,
            max_waiting: 10_000,
            timeout: Duration::from_secs(30),
        }
    }

    /// A batcher that doubles its keys after `pause` and records every batch's keys.
    fn doubling_with(limits: Limits, pause: Duration) -> (Arc<Batcher<u32, u32>>, Seen) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        let run: BatchFn<u32, u32> = Arc::new(move |keys: Vec<u32>, _scope| {
            record.lock().expect("not poisoned").push(keys.clone());
            Box::pin(async move {
                tokio::time::sleep(pause).await;
                Ok(keys.into_iter().map(|k| k * 2).collect())
            })
        });
        (Arc::new(Batcher::new(limits, run)), seen)
    }

    fn doubling(slots: usize, max_batch: usize) -> (Arc<Batcher<u32, u32>>, Seen) {
        doubling_with(limits(slots, max_batch), Duration::from_millis(20))
    }

    fn sizes(seen: &Seen) -> Vec<usize> {
        seen.lock()
            .expect("not poisoned")
            .iter()
            .map(Vec::len)
            .collect()
    }

    fn spawn_call(
        batcher: &Arc<Batcher<u32, u32>>,
        key: u32,
    ) -> tokio::task::JoinHandle<Result<u32, StoreError>> {
        let b = Arc::clone(batcher);
        tokio::spawn(async move { b.call(key).await })
    }

    #[tokio::test]
    async fn a_lone_call_runs_at_once_in_a_batch_of_one() {
        // Arrange
        let (batcher, seen) = doubling(2, 64);

        // Act
        let answer = batcher.call(21).await;

        // Assert
        assert_eq!(answer, Ok(42));
        assert_eq!(sizes(&seen), vec![1]);
    }

    #[tokio::test]
    async fn concurrent_calls_share_batches_and_each_gets_its_own_answer() {
        // Arrange
        let (batcher, seen) = doubling(1, 64);

        // Act
        let calls: Vec<_> = (0..200u32)
            .map(|k| {
                let b = Arc::clone(&batcher);
                tokio::spawn(async move { (k, b.call(k).await) })
            })
            .collect();
        let mut answers = Vec::new();
        for call in calls {
            answers.push(call.await.expect("the call ran"));
        }

        // Assert
        for (k, answer) in answers {
            assert_eq!(answer, Ok(k * 2));
        }
        let sizes = sizes(&seen);
        assert_eq!(sizes.iter().sum::<usize>(), 200);
        assert!(sizes.len() < 200 / 4, "batches: {sizes:?}");
        assert!(sizes.iter().all(|&n| n <= 64));
    }

    #[tokio::test]
    async fn a_failed_batch_fails_each_of_its_callers_and_the_next_batch_runs() {
        // Arrange
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let run: BatchFn<u32, u32> = Arc::new(move |keys: Vec<u32>, _scope| {
            let first = counter.fetch_add(1, Ordering::SeqCst) == 0;
            Box::pin(async move {
                if first {
                    Err(StoreError::Unavailable("down".into()))
                } else {
                    Ok(keys)
                }
            })
        });
        let batcher = Batcher::new(limits(1, 8), run);

        // Act
        let failed = batcher.call(1).await;
        let next = batcher.call(2).await;

        // Assert
        assert_eq!(failed, Err(StoreError::Unavailable("down".into())));
        assert_eq!(next, Ok(2));
    }

    #[tokio::test]
    async fn a_caller_that_gives_up_does_not_cancel_the_batch_of_the_others() {
        // Arrange
        let (batcher, _) = doubling(1, 64);
        let leader = spawn_call(&batcher, 1);
        tokio::task::yield_now().await;
        let follower = spawn_call(&batcher, 2);
        tokio::time::sleep(Duration::from_millis(5)).await;

        // Act: the caller that started the batch goes away mid-batch.
        leader.abort();

        // Assert
        assert_eq!(follower.await.expect("the call ran"), Ok(4));
    }

    #[tokio::test]
    async fn a_caller_that_gave_up_before_its_batch_is_not_run() {
        // Arrange: one slot, busy with key 1 for 100 ms; keys 2 and 3 queue behind it.
        let (batcher, seen) = doubling_with(limits(1, 64), Duration::from_millis(100));
        let busy = spawn_call(&batcher, 1);
        tokio::time::sleep(Duration::from_millis(10)).await;
        let gone = spawn_call(&batcher, 2);
        let stays = spawn_call(&batcher, 3);
        tokio::time::sleep(Duration::from_millis(10)).await;

        // Act: the caller of key 2 gives up (a request timeout or a closed connection).
        gone.abort();
        let answers = (busy.await.expect("ran"), stays.await.expect("ran"));

        // Assert
        assert_eq!(answers, (Ok(2), Ok(6)));
        let batches = seen.lock().expect("not poisoned").clone();
        println!("batches run: {batches:?}");
        assert_eq!(
            batches,
            vec![vec![1], vec![3]],
            "key 2 never reached a batch"
        );
    }

    #[tokio::test]
    async fn a_full_queue_answers_unavailable_at_once() {
        // Arrange: one slot busy for 200 ms, room for two waiting callers, both taken.
        let limits = Limits {
            max_waiting: 2,
            ..limits(1, 64)
        };
        let (batcher, seen) = doubling_with(limits, Duration::from_millis(200));
        let busy = spawn_call(&batcher, 1);
        tokio::time::sleep(Duration::from_millis(10)).await;
        let queued = [spawn_call(&batcher, 2), spawn_call(&batcher, 3)];
        tokio::time::sleep(Duration::from_millis(10)).await;

        // Act
        let started = Instant::now();
        let refused = batcher.call(4).await;
        let waited = started.elapsed();

        // Assert
        assert!(
            matches!(&refused, Err(StoreError::Unavailable(m)) if m.starts_with("overloaded")),
            "{refused:?}"
        );
        assert!(
            waited < Duration::from_millis(50),
            "refused after {waited:?}"
        );
        assert_eq!(busy.await.expect("ran"), Ok(2));
        for (call, want) in queued.into_iter().zip([4, 6]) {
            assert_eq!(call.await.expect("ran"), Ok(want));
        }
        assert_eq!(sizes(&seen), vec![1, 2], "key 4 was never queued");
        // Room again once the queue drained.
        assert_eq!(batcher.call(5).await, Ok(10));
    }

    #[tokio::test]
    async fn callers_that_gave_up_do_not_count_against_the_bound() {
        // Arrange: room for one waiting caller, taken by a caller that then gives up.
        let limits = Limits {
            max_waiting: 1,
            ..limits(1, 64)
        };
        let (batcher, _) = doubling_with(limits, Duration::from_millis(100));
        let busy = spawn_call(&batcher, 1);
        tokio::time::sleep(Duration::from_millis(10)).await;
        let gone = spawn_call(&batcher, 2);
        tokio::time::sleep(Duration::from_millis(10)).await;
        gone.abort();
        tokio::time::sleep(Duration::from_millis(5)).await;

        // Act
        let admitted = batcher.call(3).await;

        // Assert
        assert_eq!(admitted, Ok(6));
        assert_eq!(busy.await.expect("ran"), Ok(2));
    }

    #[tokio::test]
    async fn a_caller_still_queued_at_its_deadline_is_answered_unavailable() {
        // Arrange: one slot busy for 300 ms; callers may wait 50 ms.
        let limits = Limits {
            timeout: Duration::from_millis(50),
            ..limits(1, 64)
        };
        let (batcher, seen) = doubling_with(limits, Duration::from_millis(300));
        let busy = spawn_call(&batcher, 1);
        tokio::time::sleep(Duration::from_millis(10)).await;

        // Act
        let started = Instant::now();
        let late = batcher.call(2).await;

        // Assert
        assert!(
            matches!(&late, Err(StoreError::Unavailable(m)) if m.contains("timed out")),
            "{late:?}"
        );
        assert!(started.elapsed() < Duration::from_millis(150));
        busy.await
            .expect("ran")
            .expect("the first call is answered");
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(sizes(&seen), vec![1], "the late caller was never run");
    }

    /// A batch that "writes" its keys after `pause`, committing only when its scope allows it.
    fn committing(pause: Duration) -> (Arc<Batcher<u32, u32>>, Seen, Seen) {
        let (tried, committed) = (
            Arc::new(Mutex::new(Vec::new())),
            Arc::new(Mutex::new(Vec::new())),
        );
        let (t, c) = (Arc::clone(&tried), Arc::clone(&committed));
        let run: BatchFn<u32, u32> = Arc::new(move |keys: Vec<u32>, scope: BatchScope| {
            let (t, c) = (Arc::clone(&t), Arc::clone(&c));
            Box::pin(async move {
                t.lock().expect("not poisoned").push(keys.clone());
                tokio::time::sleep(pause).await;
                if !scope.may_commit() {
                    return Err(StoreError::Unavailable("a caller gave up".into()));
                }
                c.lock().expect("not poisoned").push(keys.clone());
                scope.has_committed();
                Ok(keys)
            })
        });
        (Arc::new(Batcher::new(limits(1, 64), run)), tried, committed)
    }

    #[tokio::test]
    async fn a_caller_that_leaves_mid_batch_rolls_the_batch_back_and_the_others_run_again() {
        // Arrange: key 1 runs alone; keys 2 and 3 form the next batch.
        let (batcher, tried, committed) = committing(Duration::from_millis(60));
        let first = spawn_call(&batcher, 1);
        tokio::time::sleep(Duration::from_millis(10)).await;
        let leaves = spawn_call(&batcher, 2);
        let stays = spawn_call(&batcher, 3);
        first.await.expect("ran").expect("answered");
        tokio::time::sleep(Duration::from_millis(20)).await;

        // Act: key 2's caller gives up while its batch runs, before it commits.
        leaves.abort();
        let answer = stays.await.expect("ran");

        // Assert
        assert_eq!(answer, Ok(3));
        let tried = tried.lock().expect("not poisoned").clone();
        let committed = committed.lock().expect("not poisoned").clone();
        println!("tried {tried:?}, committed {committed:?}");
        assert_eq!(tried, vec![vec![1], vec![2, 3], vec![3]]);
        assert_eq!(
            committed,
            vec![vec![1], vec![3]],
            "key 2 was never committed"
        );
    }

    #[tokio::test]
    async fn once_a_batch_committed_a_leaving_caller_no_longer_stops_it() {
        // Arrange
        let (tx, rx) = oneshot::channel::<Result<u32, StoreError>>();
        let replies = Arc::new(Replies(Mutex::new(vec![tx])));
        let scope = BatchScope::new(Instant::now(), replies);
        assert!(scope.may_commit(), "everyone is there");
        scope.has_committed();

        // Act
        drop(rx);

        // Assert
        assert!(
            scope.may_commit(),
            "part of the batch is committed: it goes to its end"
        );
        assert!(!scope.was_abandoned());
    }
}
