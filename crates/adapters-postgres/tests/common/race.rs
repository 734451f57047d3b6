//! The race harness: runs a race while a second store checks every invariant every ~20 ms, and
//! counts what callers were answered. Shared by `races.rs` and `boundary.rs`.

#![allow(dead_code, clippy::unwrap_used, missing_docs)]

use super::controls::control_sql;
use super::{default_queue, idem, wallet_policy, TestDb};
use adapters_memory::{Guard as MemGuard, MemoryStore};
use adapters_postgres::{Guard, PgStore};
use domain::ports::{
    CatalogueStore, Clock, NewCharge, NewPayment, QueueStore, ReservationStore, WalletStore,
};
use domain::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Everything a race needs from a store.
pub trait Stores: CatalogueStore + QueueStore + ReservationStore + WalletStore + 'static {}
impl<T: CatalogueStore + QueueStore + ReservationStore + WalletStore + 'static> Stores for T {}

/// The wall clock, for the in-memory store.
pub struct Wall;

impl Clock for Wall {
    fn now(&self) -> Timestamp {
        chrono::Utc::now()
    }
}

pub fn queue() -> QueuePolicy {
    default_queue()
}

/// What the checker looks at.
#[derive(Clone)]
pub enum Watched {
    /// A PostgreSQL database, through a store of its own (one connection).
    Pg(PgStore),
    /// An in-memory store (a clone sharing the raced store's state).
    Memory(MemoryStore),
}

impl Watched {
    pub async fn violations(&self) -> Vec<(u8, String)> {
        match self {
            Self::Pg(store) => store
                .check_invariants(queue())
                .await
                .expect("the checker runs")
                .violations
                .into_iter()
                .map(|v| (v.invariant, v.to_string()))
                .collect(),
            Self::Memory(store) => store
                .check_invariants(queue())
                .violations
                .into_iter()
                .map(|v| (v.invariant, v.to_string()))
                .collect(),
        }
    }
}

/// What the checker saw during and after a race.
#[derive(Debug)]
pub struct Observed {
    pub checks: usize,
    pub during: BTreeMap<String, u8>,
    pub end: Vec<(u8, String)>,
}

impl Observed {
    pub fn invariants(&self) -> BTreeSet<u8> {
        self.during
            .values()
            .copied()
            .chain(self.end.iter().map(|(i, _)| *i))
            .collect()
    }

    pub fn assert_clean(&self) {
        assert!(
            self.during.is_empty() && self.end.is_empty(),
            "violations during: {:?}\nat the end: {:?}",
            self.during.keys().take(10).collect::<Vec<_>>(),
            self.end.iter().take(10).collect::<Vec<_>>()
        );
        assert!(self.checks >= 1, "the checker never ran during the race");
    }

    pub fn assert_caught(&self, invariant: u8) {
        assert!(
            self.invariants().contains(&invariant),
            "negative control not caught: expected invariant {invariant}, saw {:?}",
            self.invariants()
        );
    }

    pub fn count(&self) -> usize {
        self.during.len().max(self.end.len())
    }
}

/// Runs `race` while checking every ~20 ms, then checks once more.
pub async fn watched<T>(
    watched: Watched,
    race: impl std::future::Future<Output = T>,
) -> (T, Observed, Duration) {
    let stop = Arc::new(AtomicBool::new(false));
    let background = {
        let stop = Arc::clone(&stop);
        let watched = watched.clone();
        tokio::spawn(async move {
            let mut checks = 0;
            let mut seen = BTreeMap::new();
            while !stop.load(Ordering::Relaxed) {
                for (invariant, detail) in watched.violations().await {
                    if seen.len() < 100 {
                        seen.insert(detail, invariant);
                    }
                }
                checks += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (checks, seen)
        })
    };
    let started = Instant::now();
    let outcome = race.await;
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (checks, during) = background.await.expect("checker task");
    let end = watched.violations().await;
    (
        outcome,
        Observed {
            checks,
            during,
            end,
        },
        took,
    )
}

/// Outcome counts of a race.
#[derive(Debug, Default)]
pub struct Tally {
    pub attempts: usize,
    pub won: usize,
    pub refused: usize,
    /// Answers no caller should ever get (store errors, deadlocks): described.
    pub unexpected: Vec<String>,
}

pub fn report(
    name: &str,
    store: &str,
    guarded: bool,
    tally: &Tally,
    seen: &Observed,
    took: Duration,
) {
    println!(
        "race {name} [{store}, {}]: {} attempts, {} won, {} refused, {} unexpected, \
         {} checks, {} violations seen (invariants {:?}), {took:?}",
        if guarded { "guarded" } else { "GUARD OFF" },
        tally.attempts,
        tally.won,
        tally.refused,
        tally.unexpected.len(),
        seen.checks,
        seen.count(),
        seen.invariants(),
    );
}

/// A fresh PostgreSQL database with `ddl` applied and `guards` switched off (see
/// `controls.rs`), the raced store and the checker's own store; `None` when PostgreSQL tests
/// are skipped.
pub async fn pg(ddl: &[&str], guards: &[Guard]) -> Option<(TestDb, Arc<PgStore>, Watched)> {
    let db = TestDb::new().await?;
    let mut conn = db.conn().await;
    let controls = guards.iter().flat_map(|g| control_sql(*g).iter());
    for statement in ddl.iter().chain(controls) {
        diesel_async::RunQueryDsl::execute(diesel::sql_query(*statement), &mut conn)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    let mut store = db.store(32).await;
    if guards.contains(&Guard::LockOrder) {
        store = store.with_guard_disabled(Guard::LockOrder);
    }
    let checker = Watched::Pg(db.store(1).await);
    Some((db, Arc::new(store), checker))
}

pub fn memory(guards: &[MemGuard]) -> (Arc<MemoryStore>, Watched) {
    let store = MemoryStore::new(Arc::new(Wall));
    let checker = Watched::Memory(store.clone());
    let store = guards.iter().fold(store, |s, g| s.with_guard_disabled(*g));
    (Arc::new(store), checker)
}

pub fn new_id() -> uuid::Uuid {
    uuid::Uuid::now_v7()
}

pub async fn charge<S: Stores>(store: &S, u: UserId, amount: i64, key: &str) {
    store
        .charge(
            NewCharge {
                user_id: u,
                transaction_id: TransactionId::from_uuid(new_id()),
                amount: ChargeAmount::new(amount, Money::new(1_000_000).unwrap()).unwrap(),
                idempotency: idem(key, &format!("charge:{amount}")),
            },
            wallet_policy(1_000_000, 100_000_000),
        )
        .await
        .unwrap();
}

pub fn payment(
    u: UserId,
    reservation: ReservationId,
    token: QueueTokenId,
    key: &str,
) -> NewPayment {
    NewPayment {
        user_id: u,
        reservation_id: reservation,
        queue_token: Some(token),
        payment_id: PaymentId::from_uuid(new_id()),
        transaction_id: TransactionId::from_uuid(new_id()),
        idempotency: idem(key, &format!("pay:{key}")),
    }
}
