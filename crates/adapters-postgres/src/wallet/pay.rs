//! Payments. Every payment runs here: the payments waiting at one moment become one transaction
//! of a fixed number of statements, and a payment that arrives alone is a batch of one (there
//! is no second implementation of the payment rule to keep in step).
//!
//! Locks, in the store's one order (reservations, then tokens, then wallets, each in id order),
//! so batches never wait on each other in a cycle:
//!
//! 1. the idempotency keys. In a batch, `pg_try_advisory_xact_lock`: a key held elsewhere, and
//!    any second payment of one user, is left out and runs as a batch of one after the batch
//!    commits. A batch of one waits for its key (`claim_idempotency_key`, at most
//!    [`IDEMPOTENCY_WAIT_MS`]) and answers `IdempotencyKeyInUse` if it stays taken;
//! 2. the keys' stored records: a replay or a reuse is answered from them
//!    ([`domain::IdempotencyDecision`]);
//! 3. the reservations (`FOR NO KEY UPDATE`, `hold_payable` judged after the lock) and the
//!    payers' tokens (`tokens.rs`);
//! 4. the verdicts, by the domain's one rule ([`domain::PaymentFacts::verdict`]): not found,
//!    token not active, not payable; then one conditional debit for all the rest
//!    (`wallet_covers`; a wallet it does not touch is insufficient);
//! 5. the writes, in one statement: confirmations, payments, ledger entries, spent tokens, and
//!    every outcome under its key.
//!
//! If anything fails that the locks should have made impossible, the batch rolls back and each
//! payment runs again as a batch of one, so one payment can never fail the others.

use super::charge::IDEMPOTENCY_WAIT_MS;
use super::records::records_of;
use crate::batch::distinct;
use crate::db::{Db, TxFuture};
use crate::errors::Fail;
use crate::outcome::CallStatus;
use crate::requests::{PayAnswer, PayRequest, RecordRead};
use crate::rows::{money, IdempotencyRow};
use crate::tokens::{lock_tokens, TokenLock};
use diesel::sql_types::{
    Array, BigInt, Bool, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid,
};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::{
    IdempotencyDecision, PayError, PaymentFacts, PaymentReceipt, PaymentRejection, PaymentVerdict,
    StoreError, StoredOutcome, Timestamp,
};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// Step 1 in a batch: `$1` users, `$2` keys; the 1-based positions whose key lock was free.
const TRY_KEYS: &str = "\
    SELECT k.i AS value FROM unnest($1::bigint[], $2::text[]) WITH ORDINALITY AS k(u, key, i) \
    WHERE pg_try_advisory_xact_lock(2, hashtext(k.u::text || ':' || k.key))";

/// Step 1 alone: waits for the key (`$1` user, `$2` key, `$3` fingerprint, `$4` wait in ms).
const WAIT_FOR_KEY: &str = "SELECT status FROM claim_idempotency_key($1, $2, $3, $4)";

/// Step 3: the reservations, locked, each judged payable after its lock.
const TARGETS: &str = include_str!("sql/pay_targets.sql");

/// Step 4, for payers of a 0-won reservation only: a wallet that was never charged pays 0.
const ENSURE_WALLETS: &str = "\
    INSERT INTO wallets (user_id) SELECT unnest($1::bigint[]) ORDER BY 1 ON CONFLICT DO NOTHING";

/// Step 4: `$1` user ids.
const LOCK_WALLETS: &str = "\
    SELECT user_id AS value FROM wallets WHERE user_id = ANY($1) ORDER BY user_id \
    FOR NO KEY UPDATE";

/// Step 4: the guarded debit.
const DEBIT: &str = include_str!("sql/pay_debit.sql");

/// Step 5: every write in one statement.
const WRITES: &str = include_str!("sql/pay_writes.sql");

#[derive(QueryableByName)]
struct Index {
    #[diesel(sql_type = BigInt)]
    value: i64,
}

#[derive(QueryableByName)]
struct Status {
    #[diesel(sql_type = Text)]
    status: String,
}

#[derive(QueryableByName)]
struct Target {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = BigInt)]
    user_id: i64,
    #[diesel(sql_type = BigInt)]
    total_price: i64,
    #[diesel(sql_type = Bool)]
    payable: bool,
    #[diesel(sql_type = BigInt)]
    concert_id: i64,
    #[diesel(sql_type = Bool)]
    offer: bool,
}

#[derive(QueryableByName)]
struct Debited {
    #[diesel(sql_type = BigInt)]
    user_id: i64,
    #[diesel(sql_type = BigInt)]
    balance: i64,
    #[diesel(sql_type = Timestamptz)]
    at: Timestamp,
}

/// How a payment run takes its idempotency keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Claim {
    /// A batch: keys held elsewhere are left out for a run alone.
    Try,
    /// A batch of one: wait for the key.
    Wait,
}

/// A payment's fate inside one run.
#[derive(Debug, Clone)]
enum Fate {
    /// Answered by this run.
    Answered(PayAnswer),
    /// Left for a run alone after this one (key busy, or a second payment of its user).
    Alone,
}

/// The payments of one batch; each one left out, or of a failed batch, runs as a batch of one.
pub(crate) async fn payments_batch(
    db: Db,
    payments: Vec<PayRequest>,
) -> Result<Vec<PayAnswer>, StoreError> {
    let claim = if payments.len() == 1 {
        Claim::Wait
    } else {
        Claim::Try
    };
    let fates = match settle(&db, &payments, claim).await {
        Ok(fates) => fates,
        Err(why) if matches!(why, StoreError::Unavailable(_)) || claim == Claim::Wait => {
            return Err(why)
        }
        Err(why) => {
            tracing::warn!(error = %why, payments = payments.len(), "payment batch failed; paying each alone");
            vec![Fate::Alone; payments.len()]
        }
    };
    let mut answers = Vec::with_capacity(payments.len());
    for (payment, fate) in payments.iter().zip(fates) {
        answers.push(match fate {
            Fate::Answered(answer) => answer,
            Fate::Alone => match settle(&db, std::slice::from_ref(payment), Claim::Wait).await {
                Ok(mut fates) => match fates.pop() {
                    Some(Fate::Answered(answer)) => answer,
                    _ => Err(StoreError::Internal("payment left unanswered".into()).into()),
                },
                Err(why) => Err(why.into()),
            },
        });
    }
    Ok(answers)
}

/// One transaction over `payments`.
async fn settle(db: &Db, payments: &[PayRequest], claim: Claim) -> Result<Vec<Fate>, StoreError> {
    db.transaction(|conn| pay_transaction(conn, payments.to_vec(), claim))
        .await
        .map_err(Fail::into_error)
}

/// The payments still undecided, and the answers so far.
struct Run {
    payments: Vec<PayRequest>,
    fates: Vec<Option<Fate>>,
}

impl Run {
    fn open(&self) -> Vec<usize> {
        (0..self.payments.len())
            .filter(|&i| self.fates[i].is_none())
            .collect()
    }

    fn answer(&mut self, i: usize, answer: PayAnswer) {
        self.fates[i] = Some(Fate::Answered(answer));
    }

    fn fates(self) -> Vec<Fate> {
        self.fates
            .into_iter()
            .map(|f| f.unwrap_or(Fate::Alone))
            .collect()
    }

    fn read(&self, i: usize) -> RecordRead {
        RecordRead {
            user: self.payments[i].user_id.get(),
            key: self.payments[i].idempotency.key.as_str().to_owned(),
        }
    }
}

/// Steps 1-5.
fn pay_transaction(
    conn: &mut AsyncPgConnection,
    payments: Vec<PayRequest>,
    claim: Claim,
) -> TxFuture<'_, Vec<Fate>, StoreError> {
    Box::pin(async move {
        let n = payments.len();
        let mut run = Run {
            payments,
            fates: vec![None; n],
        };
        claim_keys(conn, &mut run, claim).await?;
        replay_records(conn, &mut run).await?;
        let open = run.open();
        if open.is_empty() {
            return Ok(run.fates());
        }
        let reservation_ids: Vec<Uuid> = open
            .iter()
            .map(|&i| run.payments[i].reservation_id.get())
            .collect();
        let targets: Vec<Target> = crate::sql::sql_query(TARGETS)
            .bind::<Array<SqlUuid>, _>(reservation_ids)
            .load(conn)
            .await?;
        let targets: HashMap<Uuid, Target> = targets.into_iter().map(|t| (t.id, t)).collect();
        let token_ids: Vec<Uuid> = open
            .iter()
            .filter_map(|&i| run.payments[i].queue_token.map(|t| t.get()))
            .collect();
        let tokens = lock_tokens(conn, &token_ids, TokenLock::Spend).await?;

        let mut outcomes: Vec<(usize, StoredOutcome)> = Vec::new();
        let mut to_debit: Vec<(usize, i64)> = Vec::new();
        for i in open {
            let p = &run.payments[i];
            let target = targets
                .get(&p.reservation_id.get())
                .filter(|t| t.user_id == p.user_id.get());
            let facts = PaymentFacts {
                found: target.is_some(),
                token_admits: target.is_some_and(|t| {
                    p.queue_token
                        .is_some_and(|q| tokens.admit(q.get(), p.user_id.get(), t.concert_id))
                }),
                token_sent: p.queue_token.is_some(),
                offer: target.is_some_and(|t| t.offer),
                payable: target.is_some_and(|t| t.payable),
            };
            match (facts.verdict(), target) {
                (PaymentVerdict::Debit, Some(t)) => to_debit.push((i, t.total_price)),
                (PaymentVerdict::Reject(rejection), _) => {
                    outcomes.push((i, StoredOutcome::PaymentRejected(rejection)));
                }
                (PaymentVerdict::Refuse(refusal), _) => run.answer(i, Err(refusal)),
                (PaymentVerdict::Debit, None) => {
                    run.answer(i, Err(PayError::ReservationNotFound));
                }
            }
        }
        let debited = debit(conn, &run, &to_debit).await?;
        let mut paid: Vec<(usize, PaymentReceipt)> = Vec::new();
        for &(i, price) in &to_debit {
            let p = &run.payments[i];
            match debited.get(&p.user_id.get()) {
                Some(d) => {
                    let receipt = PaymentReceipt {
                        payment_id: p.payment_id,
                        reservation_id: p.reservation_id,
                        amount: money(price).map_err(Fail::Store)?,
                        // Never below 0 in service (CHECK wallets_balance_check); a negative
                        // control that drops the CHECK sees 0.
                        balance_after: money(d.balance.max(0)).map_err(Fail::Store)?,
                        paid_at: d.at,
                    };
                    outcomes.push((i, StoredOutcome::Paid(receipt.clone())));
                    paid.push((i, receipt));
                }
                None => outcomes.push((
                    i,
                    StoredOutcome::PaymentRejected(PaymentRejection::InsufficientBalance),
                )),
            }
        }
        write(conn, &run, &paid, &debited, &outcomes).await?;
        for (i, outcome) in outcomes {
            run.answer(i, outcome.into_payment_answer());
        }
        Ok(run.fates())
    })
}

/// Step 1: takes the keys (see [`Claim`]); the payments whose key is not taken are left for a
/// run alone, or answered `IdempotencyKeyInUse` when already alone.
async fn claim_keys(
    conn: &mut AsyncPgConnection,
    run: &mut Run,
    claim: Claim,
) -> Result<(), Fail<StoreError>> {
    if claim == Claim::Wait {
        for i in run.open() {
            let p = &run.payments[i];
            let status: Status = crate::sql::sql_query(WAIT_FOR_KEY)
                .bind::<BigInt, _>(p.user_id.get())
                .bind::<Text, _>(p.idempotency.key.as_str().to_owned())
                .bind::<Text, _>(p.idempotency.fingerprint.as_str().to_owned())
                .bind::<Integer, _>(IDEMPOTENCY_WAIT_MS)
                .get_result(conn)
                .await?;
            if CallStatus::parse(&status.status).map_err(Fail::Store)? == CallStatus::InUse {
                run.answer(i, Err(PayError::IdempotencyKeyInUse));
            }
        }
        return Ok(());
    }
    // One payment per user per batch: the others go alone, after it.
    let (_, user_slot) = distinct(
        &run.payments
            .iter()
            .map(|p| p.user_id.get())
            .collect::<Vec<_>>(),
    );
    let mut seen = HashSet::new();
    for (i, slot) in user_slot.iter().enumerate() {
        if !seen.insert(*slot) {
            run.fates[i] = Some(Fate::Alone);
        }
    }
    let open = run.open();
    let (users, keys): (Vec<i64>, Vec<String>) = open
        .iter()
        .map(|&i| {
            let read = run.read(i);
            (read.user, read.key)
        })
        .unzip();
    let claimed: Vec<Index> = crate::sql::sql_query(TRY_KEYS)
        .bind::<Array<BigInt>, _>(users)
        .bind::<Array<Text>, _>(keys)
        .load(conn)
        .await?;
    let claimed: HashSet<usize> = claimed
        .into_iter()
        .filter_map(|c| usize::try_from(c.value - 1).ok())
        .collect();
    for (k, &i) in open.iter().enumerate() {
        if !claimed.contains(&k) {
            run.fates[i] = Some(Fate::Alone);
        }
    }
    Ok(())
}

/// Step 2: the payments whose key already holds a record are answered from it.
async fn replay_records(
    conn: &mut AsyncPgConnection,
    run: &mut Run,
) -> Result<(), Fail<StoreError>> {
    let open = run.open();
    if open.is_empty() {
        return Ok(());
    }
    let reads: Vec<RecordRead> = open.iter().map(|&i| run.read(i)).collect();
    let records = records_of(conn, &reads).await?;
    for (i, read) in open.into_iter().zip(reads) {
        let Some(row) = records.get(&read) else {
            continue;
        };
        let record = row.clone().into_domain().map_err(Fail::Store)?;
        let decision =
            IdempotencyDecision::decide(Some(record), &run.payments[i].idempotency.fingerprint);
        if let Some(answer) = decision.payment_answer() {
            run.answer(i, answer);
        }
    }
    Ok(())
}

/// Step 4: locks the payers' wallets and debits each one that covers its price, in one
/// statement; the debited wallets by user.
async fn debit(
    conn: &mut AsyncPgConnection,
    run: &Run,
    to_debit: &[(usize, i64)],
) -> diesel::QueryResult<HashMap<i64, Debited>> {
    if to_debit.is_empty() {
        return Ok(HashMap::new());
    }
    let payers: Vec<i64> = to_debit
        .iter()
        .map(|&(i, _)| run.payments[i].user_id.get())
        .collect();
    let free: Vec<i64> = to_debit
        .iter()
        .filter(|&&(_, price)| price == 0)
        .map(|&(i, _)| run.payments[i].user_id.get())
        .collect();
    if !free.is_empty() {
        crate::sql::sql_query(ENSURE_WALLETS)
            .bind::<Array<BigInt>, _>(free)
            .execute(conn)
            .await?;
    }
    crate::sql::sql_query(LOCK_WALLETS)
        .bind::<Array<BigInt>, _>(payers.clone())
        .execute(conn)
        .await?;
    let rows: Vec<Debited> = crate::sql::sql_query(DEBIT)
        .bind::<Array<BigInt>, _>(payers)
        .bind::<Array<BigInt>, _>(to_debit.iter().map(|&(_, price)| price).collect::<Vec<_>>())
        .load(conn)
        .await?;
    Ok(rows.into_iter().map(|d| (d.user_id, d)).collect())
}

/// Step 5: confirms the paid reservations, records the payments and their ledger entries,
/// spends the payers' tokens, and stores every outcome (paid or rejected) under its key, in one
/// statement.
async fn write(
    conn: &mut AsyncPgConnection,
    run: &Run,
    paid: &[(usize, PaymentReceipt)],
    debited: &HashMap<i64, Debited>,
    outcomes: &[(usize, StoredOutcome)],
) -> Result<(), Fail<StoreError>> {
    if outcomes.is_empty() {
        return Ok(());
    }
    let payment = |i: usize| &run.payments[i];
    let paid_uuids = |f: &dyn Fn(&PayRequest) -> Uuid| -> Vec<Uuid> {
        paid.iter().map(|(i, _)| f(payment(*i))).collect()
    };
    let payers: Vec<i64> = paid
        .iter()
        .map(|(i, _)| payment(*i).user_id.get())
        .collect();
    let rows: Vec<(RecordRead, IdempotencyRow)> = outcomes
        .iter()
        .map(|(i, outcome)| {
            (
                run.read(*i),
                IdempotencyRow::of(&payment(*i).idempotency.fingerprint, outcome),
            )
        })
        .collect();
    let record_uuids = |f: &dyn Fn(&IdempotencyRow) -> Option<Uuid>| -> Vec<Option<Uuid>> {
        rows.iter().map(|(_, r)| f(r)).collect()
    };
    let record_i64s = |f: &dyn Fn(&IdempotencyRow) -> Option<i64>| -> Vec<Option<i64>> {
        rows.iter().map(|(_, r)| f(r)).collect()
    };
    let confirmed: Index = crate::sql::sql_query(WRITES)
        .bind::<Array<SqlUuid>, _>(paid_uuids(&|p| p.reservation_id.get()))
        .bind::<Array<SqlUuid>, _>(paid_uuids(&|p| p.payment_id.get()))
        .bind::<Array<BigInt>, _>(payers.clone())
        .bind::<Array<BigInt>, _>(paid.iter().map(|(_, r)| r.amount.won()).collect::<Vec<_>>())
        .bind::<Array<SqlUuid>, _>(paid_uuids(&|p| p.transaction_id.get()))
        .bind::<Array<BigInt>, _>(
            payers
                .iter()
                .map(|u| debited.get(u).map_or(0, |d| d.balance))
                .collect::<Vec<_>>(),
        )
        .bind::<Array<Nullable<SqlUuid>>, _>(
            paid.iter()
                .map(|(i, _)| payment(*i).queue_token.map(|t| t.get()))
                .collect::<Vec<_>>(),
        )
        .bind::<Array<BigInt>, _>(rows.iter().map(|(k, _)| k.user).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(rows.iter().map(|(k, _)| k.key.clone()).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(
            rows.iter()
                .map(|(_, r)| r.fingerprint.clone())
                .collect::<Vec<_>>(),
        )
        .bind::<Array<Text>, _>(
            rows.iter()
                .map(|(_, r)| r.outcome.clone())
                .collect::<Vec<_>>(),
        )
        .bind::<Array<Nullable<Text>>, _>(
            rows.iter()
                .map(|(_, r)| r.rejection.clone())
                .collect::<Vec<_>>(),
        )
        .bind::<Array<Nullable<SqlUuid>>, _>(record_uuids(&|r| r.payment_id))
        .bind::<Array<Nullable<SqlUuid>>, _>(record_uuids(&|r| r.reservation_id))
        .bind::<Array<Nullable<BigInt>>, _>(record_i64s(&|r| r.amount))
        .bind::<Array<Nullable<BigInt>>, _>(record_i64s(&|r| r.balance))
        .bind::<Array<Nullable<Timestamptz>>, _>(
            rows.iter().map(|(_, r)| r.occurred_at).collect::<Vec<_>>(),
        )
        .get_result(conn)
        .await?;
    if usize::try_from(confirmed.value).ok() != Some(paid.len()) {
        // Locked and judged in step 3: unreachable.
        return Err(Fail::Store(StoreError::Internal(
            "a reservation vanished under its lock".into(),
        )));
    }
    Ok(())
}
