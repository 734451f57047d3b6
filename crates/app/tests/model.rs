//! Model test: random sequences of operations applied to the use cases (`application::Services`)
//! over each store and to a plain model (a few vectors and maps) must agree on every answer
//! (success details or error variant) and on every wallet balance after every step.
//!
//! Operations: join the queue and run an admission tick; hold 1–2 seats; cancel; charge (a small
//! pool of keys, so replays and key reuse happen, and an amount over the per-charge maximum);
//! pay (also another user's reservation, a spent token, replays). Expiry is left out (a
//! PostgreSQL clock cannot be moved): holds and active windows last ten minutes. Each case ends
//! with the store's invariant checker.
//!
//! Runs on the in-memory store always, and on PostgreSQL when `TEST_DATABASE_URL` is set (one
//! fresh database for the run; every case uses its own concert and users). Unset outside CI, the
//! PostgreSQL half is skipped with a note.

#![allow(clippy::unwrap_used, missing_docs)]

use adapters_memory::MemoryStore;
use adapters_postgres::{PgConfig, PgStore};
use application::{
    JoinRateLimit, JoinRateLimiter, MaintenanceJobs, Ports, Services, Settings, SystemClock,
    UuidV7Generator,
};
use domain::*;
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const USERS: usize = 3;
const KEYS: usize = 5;
const PRICES: [i64; 6] = [100, 200, 300, 100, 200, 300];
const CHARGE_MAX: i64 = 1000;
const BALANCE_MAX: i64 = 3000;
const PER_USER: u32 = 3;
const CASES: u32 = 24;
const OPS: usize = 30;

fn settings() -> Settings {
    Settings {
        queue: QueuePolicy::new(
            100,
            1000,
            Duration::from_secs(1),
            Duration::from_secs(600),
            Duration::from_secs(300),
        )
        .unwrap(),
        hold: HoldPolicy::new(Duration::from_secs(600), 2, PER_USER).unwrap(),
        wallet: WalletPolicy::new(
            Money::new(CHARGE_MAX).unwrap(),
            Money::new(BALANCE_MAX).unwrap(),
        )
        .unwrap(),
        refund: domain::RefundPolicy::default(),
    }
}

// ------------------------------------------------------------------ operations

#[derive(Debug, Clone)]
enum Op {
    /// Join the concert's queue, then one admission tick.
    JoinAdmit { user: usize },
    /// Hold these seats (indices into the schedule).
    Hold { user: usize, seats: Vec<usize> },
    /// Cancel the n-th reservation made so far (modulo their number), whoever made it.
    Cancel { user: usize, nth: usize },
    /// Charge under key `k{key}`.
    Charge {
        user: usize,
        key: usize,
        amount: i64,
    },
    /// Pay the n-th reservation made so far under key `k{key}`.
    Pay { user: usize, nth: usize, key: usize },
}

fn op() -> impl Strategy<Value = Op> {
    let user = 0..USERS;
    prop_oneof![
        2 => user.clone().prop_map(|user| Op::JoinAdmit { user }),
        4 => (user.clone(), proptest::sample::subsequence((0..PRICES.len()).collect::<Vec<_>>(), 1..=2))
            .prop_map(|(user, seats)| Op::Hold { user, seats }),
        1 => (user.clone(), 0..8usize).prop_map(|(user, nth)| Op::Cancel { user, nth }),
        3 => (user.clone(), 0..KEYS, proptest::sample::select(vec![100i64, 300, 700, 1000, 1500]))
            .prop_map(|(user, key, amount)| Op::Charge { user, key, amount }),
        4 => (user, 0..8usize, 0..KEYS).prop_map(|(user, nth, key)| Op::Pay { user, nth, key }),
    ]
}

/// A comparable answer: success details, or the error's variant.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    Joined {
        created: bool,
        status: QueueTokenStatus,
    },
    Held {
        total: i64,
        seats: usize,
    },
    Cancelled,
    Charged {
        amount: i64,
        balance: i64,
    },
    Paid {
        amount: i64,
        balance_after: i64,
    },
    Err(String),
    Skipped,
}

fn err(e: impl std::fmt::Debug) -> Answer {
    Answer::Err(format!("{e:?}"))
}

// ------------------------------------------------------------------ the model

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    None,
    Active,
    /// Expired by a payment.
    Spent,
}

#[derive(Debug, Clone)]
struct Held {
    owner: usize,
    seats: Vec<usize>,
    total: i64,
    status: ReservationStatus,
}

#[derive(Debug)]
struct Model {
    tokens: [Token; USERS],
    balances: [i64; USERS],
    reservations: Vec<Held>,
    /// (user, key) → (fingerprint, first answer).
    records: HashMap<(usize, usize), (String, Answer)>,
}

impl Model {
    fn new() -> Self {
        Self {
            tokens: [Token::None; USERS],
            balances: [0; USERS],
            reservations: Vec::new(),
            records: HashMap::new(),
        }
    }

    fn gate(&self, user: usize) -> Result<(), String> {
        match self.tokens[user] {
            Token::None => Err("Access(TokenRequired)".into()),
            Token::Spent => Err("Access(NotActive)".into()),
            Token::Active => Ok(()),
        }
    }

    fn join(&mut self, user: usize) -> Answer {
        let created = self.tokens[user] != Token::Active;
        self.tokens[user] = Token::Active;
        Answer::Joined {
            created,
            status: QueueTokenStatus::Active,
        }
    }

    fn hold(&mut self, user: usize, seats: &[usize]) -> Answer {
        if let Err(e) = self.gate(user) {
            return Answer::Err(e);
        }
        let live = |r: &&Held| {
            matches!(
                r.status,
                ReservationStatus::Held | ReservationStatus::Confirmed
            )
        };
        let taken: Vec<usize> = seats
            .iter()
            .copied()
            .filter(|s| {
                self.reservations
                    .iter()
                    .filter(live)
                    .any(|r| r.seats.contains(s))
            })
            .collect();
        if !taken.is_empty() {
            return Answer::Err(format!("SeatUnavailable{taken:?}"));
        }
        let holding: usize = self
            .reservations
            .iter()
            .filter(|r| r.owner == user && r.status == ReservationStatus::Held)
            .map(|r| r.seats.len())
            .sum();
        let would_hold = holding + seats.len();
        if would_hold > PER_USER as usize {
            return Answer::Err(format!("HoldLimitExceeded({would_hold})"));
        }
        let total = seats.iter().map(|s| PRICES[*s]).sum();
        self.reservations.push(Held {
            owner: user,
            seats: seats.to_vec(),
            total,
            status: ReservationStatus::Held,
        });
        Answer::Held {
            total,
            seats: seats.len(),
        }
    }

    fn cancel(&mut self, user: usize, index: usize) -> Answer {
        let r = &mut self.reservations[index];
        if r.owner != user {
            return err(CancelError::NotFound);
        }
        if r.status != ReservationStatus::Held {
            return err(CancelError::NotCancellable(r.status));
        }
        r.status = ReservationStatus::Cancelled;
        Answer::Cancelled
    }

    fn charge(&mut self, user: usize, key: usize, amount: i64) -> Answer {
        let fingerprint = format!("charge:{amount}");
        if let Some((stored, answer)) = self.records.get(&(user, key)) {
            return if *stored == fingerprint {
                answer.clone()
            } else {
                err(ChargeError::IdempotencyKeyReused)
            };
        }
        if amount > CHARGE_MAX {
            return Answer::Err("InvalidAmount".into());
        }
        let answer = if self.balances[user] + amount > BALANCE_MAX {
            err(ChargeError::BalanceLimitExceeded)
        } else {
            self.balances[user] += amount;
            Answer::Charged {
                amount,
                balance: self.balances[user],
            }
        };
        self.records
            .insert((user, key), (fingerprint, answer.clone()));
        answer
    }

    fn pay(&mut self, user: usize, index: usize, key: usize, fingerprint: String) -> Answer {
        if let Some((stored, answer)) = self.records.get(&(user, key)) {
            return if *stored == fingerprint {
                answer.clone()
            } else {
                err(PayError::IdempotencyKeyReused)
            };
        }
        if self.tokens[user] == Token::None {
            return Answer::Err("Access(TokenRequired)".into());
        }
        if self.reservations[index].owner != user {
            return err(PayError::ReservationNotFound);
        }
        if let Err(e) = self.gate(user) {
            return Answer::Err(e);
        }
        let r = &mut self.reservations[index];
        let answer = if r.status != ReservationStatus::Held {
            err(PayError::NotPayable)
        } else if self.balances[user] < r.total {
            err(PayError::InsufficientBalance)
        } else {
            self.balances[user] -= r.total;
            r.status = ReservationStatus::Confirmed;
            self.tokens[user] = Token::Spent;
            Answer::Paid {
                amount: r.total,
                balance_after: self.balances[user],
            }
        };
        self.records
            .insert((user, key), (fingerprint, answer.clone()));
        answer
    }
}

// ------------------------------------------------------------------ the system under test

/// One case's world on a store: a concert with six seats and three users of its own.
struct World {
    services: Services,
    jobs: MaintenanceJobs,
    concert: ConcertId,
    schedule: ScheduleId,
    seats: Vec<SeatId>,
    users: [UserId; USERS],
    tokens: [Option<QueueTokenId>; USERS],
    reservations: Vec<ReservationId>,
}

fn services_over<S>(store: Arc<S>) -> Services
where
    S: domain::ports::CatalogueStore
        + domain::ports::QueueStore
        + domain::ports::ReservationStore
        + domain::ports::WalletStore
        + domain::ports::WaitlistStore
        + domain::ports::StoreHealth
        + 'static,
{
    let ports = Ports {
        catalogue: store.clone(),
        queue: store.clone(),
        reservations: store.clone(),
        wallets: store.clone(),
        waitlist: store.clone(),
        health: store,
        clock: Arc::new(SystemClock),
        ids: Arc::new(UuidV7Generator),
    };
    Services::new(
        ports,
        settings(),
        JoinRateLimiter::new(JoinRateLimit {
            max_joins: 0,
            window_secs: 1,
        }),
    )
}

/// Users of different cases never meet: case n uses ids 10n+1 ..= 10n+3.
static CASE: AtomicI64 = AtomicI64::new(1);

impl World {
    async fn new(services: Services) -> Self {
        let case = CASE.fetch_add(1, Ordering::Relaxed);
        let concert = services
            .create_concert(NewConcert {
                title: ConcertTitle::new(format!("Model {case}")).unwrap(),
                venue: Venue::new("Hall").unwrap(),
                sale: domain::SaleWindow::ALWAYS_OPEN,
            })
            .await
            .unwrap();
        let seats = PRICES
            .iter()
            .enumerate()
            .map(|(i, price)| NewSeat {
                number: SeatNumber::new(format!("M-{i}")).unwrap(),
                grade: SeatGrade::new("R").unwrap(),
                price: Money::new(*price).unwrap(),
            })
            .collect();
        let schedule = services
            .create_schedule(
                concert.id,
                NewSchedule::new(chrono::Utc::now() + chrono::Duration::days(30), seats).unwrap(),
            )
            .await
            .unwrap();
        let users = [1, 2, 3].map(|n| UserId::new(case * 10 + n).unwrap());
        Self {
            jobs: MaintenanceJobs::new(services.clone()),
            services,
            concert: concert.id,
            schedule: schedule.schedule_id,
            seats: schedule.seats.iter().map(|s| s.id).collect(),
            users,
            tokens: [None; USERS],
            reservations: Vec::new(),
        }
    }

    fn idem(&self, key: usize, fingerprint: &str) -> IdempotencyContext {
        IdempotencyContext {
            key: IdempotencyKey::new(format!("k{key}")).unwrap(),
            fingerprint: RequestFingerprint::new(fingerprint),
        }
    }

    async fn join(&mut self, user: usize) -> Answer {
        let joined = match self
            .services
            .join_queue(self.users[user], self.concert)
            .await
        {
            Ok(joined) => joined,
            Err(e) => return err(e),
        };
        self.tokens[user] = Some(joined.ticket.token);
        self.jobs.admit().await.unwrap();
        let ticket = self
            .services
            .current_ticket(self.users[user], Some(joined.ticket.token))
            .await
            .unwrap();
        Answer::Joined {
            created: joined.created,
            status: ticket.status,
        }
    }

    async fn hold(&mut self, user: usize, seats: &[usize]) -> Answer {
        let ids = seats.iter().map(|s| self.seats[*s]).collect();
        match self
            .services
            .hold_seats(self.users[user], self.tokens[user], self.schedule, ids)
            .await
        {
            Ok(r) => {
                self.reservations.push(r.id);
                Answer::Held {
                    total: r.total_price.won(),
                    seats: r.seats.len(),
                }
            }
            Err(HoldSeatsError::SeatUnavailable { seats }) => {
                let taken: Vec<usize> = seats
                    .iter()
                    .map(|id| self.seats.iter().position(|s| s == id).unwrap())
                    .collect();
                Answer::Err(format!("SeatUnavailable{taken:?}"))
            }
            Err(HoldSeatsError::HoldLimitExceeded { would_hold, .. }) => {
                Answer::Err(format!("HoldLimitExceeded({would_hold})"))
            }
            Err(e) => err(e),
        }
    }

    async fn cancel(&mut self, user: usize, index: usize) -> Answer {
        match self
            .services
            .cancel_reservation(self.users[user], self.reservations[index])
            .await
        {
            Ok(_) => Answer::Cancelled,
            Err(e) => err(e),
        }
    }

    async fn charge(&mut self, user: usize, key: usize, amount: i64) -> Answer {
        let idem = self.idem(key, &format!("charge:{amount}"));
        match self.services.charge(self.users[user], idem, amount).await {
            Ok(r) => Answer::Charged {
                amount: r.value.amount.won(),
                balance: r.value.balance.won(),
            },
            Err(ChargeError::InvalidAmount(_)) => Answer::Err("InvalidAmount".into()),
            Err(e) => err(e),
        }
    }

    async fn pay(&mut self, user: usize, index: usize, key: usize, fingerprint: &str) -> Answer {
        let idem = self.idem(key, fingerprint);
        match self
            .services
            .pay(
                self.users[user],
                self.tokens[user],
                idem,
                self.reservations[index],
            )
            .await
        {
            Ok(r) => Answer::Paid {
                amount: r.value.amount.won(),
                balance_after: r.value.balance_after.won(),
            },
            Err(e) => err(e),
        }
    }
}

/// How often each kind of answer came up, over all cases of a run (shows what was exercised).
#[derive(Default)]
struct Coverage(std::sync::Mutex<std::collections::BTreeMap<String, usize>>);

impl Coverage {
    fn note(&self, answer: &Answer) {
        let kind = match answer {
            Answer::Err(e) => e.split(['[', '(', '{']).next().unwrap_or(e).to_owned(),
            other => format!("{other:?}")
                .split([' ', '{'])
                .next()
                .unwrap_or_default()
                .to_owned(),
        };
        let mut seen = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *seen.entry(kind).or_default() += 1;
    }

    fn summary(&self) -> String {
        format!(
            "{:?}",
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        )
    }
}

/// Applies `ops` to the model and to `world`, comparing every answer and balance.
async fn run_case(mut world: World, ops: &[Op], coverage: &Coverage) -> Result<(), TestCaseError> {
    let mut model = Model::new();
    for (step, op) in ops.iter().enumerate() {
        let nth = |n: usize, len: usize| (len > 0).then(|| n % len);
        let (expected, actual) = match op {
            Op::JoinAdmit { user } => (model.join(*user), world.join(*user).await),
            Op::Hold { user, seats } => (model.hold(*user, seats), world.hold(*user, seats).await),
            Op::Cancel { user, nth: n } => match nth(*n, model.reservations.len()) {
                Some(i) => (model.cancel(*user, i), world.cancel(*user, i).await),
                None => (Answer::Skipped, Answer::Skipped),
            },
            Op::Charge { user, key, amount } => (
                model.charge(*user, *key, *amount),
                world.charge(*user, *key, *amount).await,
            ),
            Op::Pay { user, nth: n, key } => match nth(*n, model.reservations.len()) {
                Some(i) => {
                    let fingerprint = format!("pay:{}", world.reservations[i]);
                    (
                        model.pay(*user, i, *key, fingerprint.clone()),
                        world.pay(*user, i, *key, &fingerprint).await,
                    )
                }
                None => (Answer::Skipped, Answer::Skipped),
            },
        };
        coverage.note(&actual);
        prop_assert_eq!(&actual, &expected, "step {} {:?} of {:?}", step, op, ops);
        for (u, want) in model.balances.iter().enumerate() {
            let got = world.services.wallet(world.users[u]).await.unwrap().balance;
            prop_assert_eq!(
                got.won(),
                *want,
                "balance of user {} after step {}",
                u,
                step
            );
        }
    }
    Ok(())
}

// ------------------------------------------------------------------ the runs

fn runner() -> TestRunner {
    TestRunner::new(RunnerConfig {
        cases: CASES,
        failure_persistence: None,
        ..RunnerConfig::default()
    })
}

/// Users 0 and 1 start admitted and funded (user 2 starts with nothing, so the missing-token
/// paths stay covered); then `OPS` random operations.
fn ops() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(op(), OPS).prop_map(|random| {
        let mut ops = vec![
            Op::JoinAdmit { user: 0 },
            Op::JoinAdmit { user: 1 },
            Op::Charge {
                user: 0,
                key: KEYS - 1,
                amount: 1000,
            },
            Op::Charge {
                user: 1,
                key: KEYS - 1,
                amount: 700,
            },
        ];
        ops.extend(random);
        ops
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn the_memory_store_agrees_with_the_model() {
    let rt = runtime();
    let cases = AtomicI64::new(0);
    let coverage = Coverage::default();
    runner()
        .run(&ops(), |ops| {
            cases.fetch_add(1, Ordering::Relaxed);
            rt.block_on(async {
                let store = Arc::new(MemoryStore::new(Arc::new(SystemClock)));
                let world = World::new(services_over(Arc::clone(&store))).await;
                run_case(world, &ops, &coverage).await?;
                let report = store.check_invariants(settings().queue);
                prop_assert!(report.is_clean(), "{:?}", report.violations);
                Ok(())
            })
        })
        .unwrap();
    println!(
        "model test [memory]: {} cases x (4 + {OPS}) ops; answers {}",
        cases.load(Ordering::Relaxed),
        coverage.summary()
    );
}

/// A fresh, migrated database on the server named by `TEST_DATABASE_URL`, or `None`.
async fn fresh_database() -> Option<String> {
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    let Ok(admin) = std::env::var("TEST_DATABASE_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "TEST_DATABASE_URL must be set in CI (scripts/test sets it)"
        );
        eprintln!("TEST_DATABASE_URL unset: skipping the PostgreSQL model test");
        return None;
    };
    let name = format!("model_{}", uuid::Uuid::new_v4().simple());
    let mut conn = AsyncPgConnection::establish(&admin).await.unwrap();
    diesel::sql_query(format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let (base, _) = admin.rsplit_once('/').unwrap();
    let url = format!("{base}/{name}");
    adapters_postgres::run_migrations(&url).await.unwrap();
    Some(url)
}

#[test]
fn the_postgres_store_agrees_with_the_model() {
    let rt = runtime();
    let Some(store) = rt.block_on(async {
        let url = fresh_database().await?;
        let store: PgStore = adapters_postgres::connect(PgConfig::new(url).with_pool_size(4))
            .await
            .unwrap();
        Some(Arc::new(store))
    }) else {
        return;
    };
    let cases = AtomicI64::new(0);
    let coverage = Coverage::default();
    let started = std::time::Instant::now();
    runner()
        .run(&ops(), |ops| {
            cases.fetch_add(1, Ordering::Relaxed);
            rt.block_on(async {
                let world = World::new(services_over(Arc::clone(&store))).await;
                run_case(world, &ops, &coverage).await?;
                let report = store.check_invariants(settings().queue).await.unwrap();
                prop_assert!(report.is_clean(), "{:?}", report.violations);
                Ok(())
            })
        })
        .unwrap();
    println!(
        "model test [pg]: {} cases x (4 + {OPS}) ops in {:?}; answers {}",
        cases.load(Ordering::Relaxed),
        started.elapsed(),
        coverage.summary()
    );
}
