//! Request coalescing: concurrent calls of one kind become one statement (or one transaction).
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
//!
//! # Nothing is written for a caller that gave up
//!
//! * A caller that is gone (its future dropped: the request timed out or the client left) is
//!   skipped when a batch is taken, and a caller whose own deadline (its arrival plus the store's
//!   operation timeout) has passed is answered `Unavailable` instead of being run.
//! * A batch runs with the earliest deadline of its callers ([`BatchScope`]): the transaction
//!   runner stops its work at that deadline (the transaction rolls back) and, just before
//!   `COMMIT`, checks that every caller is still there. If one left, the transaction rolls back
//!   and the batch runs again without it; only once a transaction of the batch has committed is
//!   nothing rolled back any more (a batch's fallback that settles its keys one by one).
//! * The queue of each kind is bounded (`max_waiting` callers not yet in a batch): a call that
//!   finds it full is answered `Unavailable` at once (HTTP 503 with `Retry-After`) instead of
//!   joining a line that would outlast its request.

mod batcher;
mod group;
mod scope;

pub(crate) use batcher::{BatchFn, Batcher, Limits};
pub(crate) use group::{by_policy, distinct};
pub(crate) use scope::BatchScope;
