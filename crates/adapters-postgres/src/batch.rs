//! Request coalescing: concurrent calls of one read become one statement.
//!
//! Profiling `scripts/bench` showed that a single-row read costs PostgreSQL about as much in
//! per-statement overhead (protocol, executor start-up, a backend wake-up, a context switch) as in
//! the read itself, and that the service's own CPU per request went mostly to the round trip's
//! wake-ups. A [`Batcher`] answers many callers with one statement (`WHERE id = ANY($1)`):
//!
//! * a call queues its key, then either finds a free *slot* (at most `slots` batches run at
//!   once) and runs everything queued so far as one batch, or waits while a running batch
//!   finishes; whatever queued meanwhile becomes the next batch. Idle, a call runs alone at once
//!   (no timer, no added latency); under load batches grow by themselves.
//! * every batch's statement starts after each of its callers arrived, so a caller never sees a
//!   state older than its own request: batching changes the cost, not the answer.
//! * the batch runs in a spawned task, so a caller that gives up (a client that disconnects)
//!   never cancels the answers of the others.

use domain::StoreError;
use futures::future::BoxFuture;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::{oneshot, Semaphore};

/// Runs one batch: the answer for each key, in the keys' order.
pub(crate) type BatchFn<K, V> =
    Arc<dyn Fn(Vec<K>) -> BoxFuture<'static, Result<Vec<V>, StoreError>> + Send + Sync>;

/// A caller's key and where its answer goes.
struct Waiter<K, V> {
    key: K,
    reply: oneshot::Sender<Result<V, StoreError>>,
}

/// The queue of callers not yet taken into a batch.
struct Pending<K, V> {
    waiters: VecDeque<Waiter<K, V>>,
    /// How many callers were ever queued, and how many were taken into batches: a caller knows
    /// its key was taken when `taken` passed its own number.
    queued: u64,
    taken: u64,
}

/// Coalesces concurrent calls into batches of at most `max_batch` keys, `slots` batches at once.
pub(crate) struct Batcher<K, V> {
    pending: Mutex<Pending<K, V>>,
    slots: Arc<Semaphore>,
    max_batch: usize,
    run: BatchFn<K, V>,
}

impl<K, V> Batcher<K, V>
where
    K: Send + 'static,
    V: Send + 'static,
{
    /// A batcher that runs `run` on the keys of up to `max_batch` callers, `slots` at a time.
    pub(crate) fn new(slots: usize, max_batch: usize, run: BatchFn<K, V>) -> Self {
        Self {
            pending: Mutex::new(Pending {
                waiters: VecDeque::new(),
                queued: 0,
                taken: 0,
            }),
            slots: Arc::new(Semaphore::new(slots.max(1))),
            max_batch: max_batch.max(1),
            run,
        }
    }

    /// The answer for `key`, computed in a batch with whatever other calls are waiting.
    pub(crate) async fn call(&self, key: K) -> Result<V, StoreError> {
        let (reply, mut answer) = oneshot::channel();
        let ticket = {
            let mut pending = self.lock();
            pending.waiters.push_back(Waiter { key, reply });
            pending.queued += 1;
            pending.queued
        };
        loop {
            if self.lock().taken >= ticket {
                // In a batch already: only the answer is left to wait for.
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
            }
        }
    }

    /// Takes up to `max_batch` of the oldest waiters.
    fn take(&self) -> Vec<Waiter<K, V>> {
        let mut pending = self.lock();
        let n = pending.waiters.len().min(self.max_batch);
        pending.taken += n as u64;
        pending.waiters.drain(..n).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending<K, V>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Runs one batch and hands each caller its answer (the batch's error to all if it failed).
async fn deliver<K, V>(run: BatchFn<K, V>, batch: Vec<Waiter<K, V>>) {
    let (keys, replies): (Vec<K>, Vec<_>) = batch.into_iter().map(|w| (w.key, w.reply)).unzip();
    let expected = keys.len();
    match run(keys).await {
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
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    type Sizes = Arc<Mutex<Vec<usize>>>;

    /// A batcher that doubles its keys after a short pause and records every batch's size.
    fn doubling(slots: usize, max_batch: usize) -> (Arc<Batcher<u32, u32>>, Sizes) {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&sizes);
        let run: BatchFn<u32, u32> = Arc::new(move |keys: Vec<u32>| {
            seen.lock().expect("not poisoned").push(keys.len());
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok(keys.into_iter().map(|k| k * 2).collect())
            })
        });
        (Arc::new(Batcher::new(slots, max_batch, run)), sizes)
    }

    #[tokio::test]
    async fn a_lone_call_runs_at_once_in_a_batch_of_one() {
        // Arrange
        let (batcher, sizes) = doubling(2, 64);

        // Act
        let answer = batcher.call(21).await;

        // Assert
        assert_eq!(answer, Ok(42));
        assert_eq!(*sizes.lock().expect("not poisoned"), vec![1]);
    }

    #[tokio::test]
    async fn concurrent_calls_share_batches_and_each_gets_its_own_answer() {
        // Arrange
        let (batcher, sizes) = doubling(1, 64);

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
        let sizes = sizes.lock().expect("not poisoned");
        assert_eq!(sizes.iter().sum::<usize>(), 200);
        assert!(sizes.len() < 200 / 4, "batches: {sizes:?}");
        assert!(sizes.iter().all(|&n| n <= 64));
    }

    #[tokio::test]
    async fn a_failed_batch_fails_each_of_its_callers_and_the_next_batch_runs() {
        // Arrange
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let run: BatchFn<u32, u32> = Arc::new(move |keys: Vec<u32>| {
            let first = counter.fetch_add(1, Ordering::SeqCst) == 0;
            Box::pin(async move {
                if first {
                    Err(StoreError::Unavailable("down".into()))
                } else {
                    Ok(keys)
                }
            })
        });
        let batcher = Batcher::new(1, 8, run);

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
        let b = Arc::clone(&batcher);
        let leader = tokio::spawn(async move { b.call(1).await });
        tokio::task::yield_now().await;
        let b = Arc::clone(&batcher);
        let follower = tokio::spawn(async move { b.call(2).await });
        tokio::time::sleep(Duration::from_millis(5)).await;

        // Act: the caller that started the batch goes away mid-batch.
        leader.abort();

        // Assert
        assert_eq!(follower.await.expect("the call ran"), Ok(4));
    }
}
