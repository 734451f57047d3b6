//! Payments, coalesced: the payments waiting at one moment become one transaction of a fixed
//! number of statements, however many payments it carries.
//!
//! A payment alone is one call of `pay_once` (migration `2025-01-03-000000_money_functions`),
//! about twenty statement executions inside PostgreSQL. A batch runs each step once, set-wise,
//! with the same guards and locks, in the same order (reservations, then tokens, then wallets,
//! each in id order, so batches and lone payments queue and never deadlock in a cycle):
//!
//! 1. the idempotency keys, with `pg_try_advisory_xact_lock` (the same lock `pay_once` waits
//!    for); a key held elsewhere, and any second payment of one user in the batch, is left out
//!    and paid alone after the batch commits (it then waits for the key, or sees the balance the
//!    batch left);
//! 2. the keys' stored records: a replay or a reuse is answered from them;
//! 3. the reservations (`FOR NO KEY UPDATE`), the payers' tokens and the wallets, locked;
//! 4. the decisions, in arrival order, as `pay_once` makes them: not found, token not active,
//!    not payable; then one conditional debit for all (`balance >= price`; a wallet it does not
//!    touch is insufficient);
//! 5. the writes: confirmations, payments, ledger entries, expired tokens, idempotency records.
//!
//! If anything fails that the locks should have made impossible, the batch rolls back and each
//! payment is paid alone, so one payment can never fail the others.

use crate::batched::distinct;
use crate::errors::Fail;
use crate::pool::{Reader, TxFuture, MAX_ATTEMPTS};
use crate::rows::{IdempotencyRow, LockedToken};
use crate::wallet::{pay_alone, Called, KeyedRecord, RECORDS_OF_KEYS};
use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::guards::{Guard, Guards};
use domain::ports::NewPayment;
use domain::{StoreError, Timestamp};
use futures::FutureExt;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// A payment and the store's guards.
pub(crate) type PayKey = (NewPayment, Guards);

/// What the payment's call did (as `pay_once` reports it).
pub(crate) type PayAnswer = Result<Called, StoreError>;

/// Step 1: `$1` users, `$2` keys; the 1-based positions whose key lock was free.
const TRY_KEYS: &str = "\
    SELECT k.i AS value FROM unnest($1::bigint[], $2::text[]) WITH ORDINALITY AS k(u, key, i) \
    WHERE pg_try_advisory_xact_lock(2, hashtext(k.u::text || ':' || k.key))";

/// Step 3a: `$1` reservation ids. Whether each is payable is judged by `hold_payable` on the
/// outer query, so the clock is read after the row's lock is held (the batch transaction began
/// earlier, and its `now()` may be before a deadline that has since passed).
const TARGETS: &str = "\
    SELECT t.id, t.user_id, t.total_price, hold_payable(t.status, t.held_until) AS payable, \
        t.concert_id \
    FROM (SELECT r.id, r.user_id, r.total_price, r.status, r.held_until, s.concert_id \
          FROM reservations r JOIN schedules s ON s.id = r.schedule_id \
          WHERE r.id = ANY($1) ORDER BY r.id FOR NO KEY UPDATE OF r) t";

/// Step 3b: `$1` token ids; each one's window judged by `token_active` once it is locked.
const TOKENS: &str = "\
    SELECT t.id, t.user_id, t.concert_id, token_active(t.status, t.active_until) AS active \
    FROM (SELECT id, user_id, concert_id, status, active_until FROM queue_tokens \
          WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE) t";

/// Step 3c, for payers of a 0-won reservation only: a wallet that was never charged pays 0.
const ENSURE_WALLETS: &str = "\
    INSERT INTO wallets (user_id) SELECT unnest($1::bigint[]) ORDER BY 1 ON CONFLICT DO NOTHING";

/// Step 3c: `$1` user ids.
const LOCK_WALLETS: &str = "\
    SELECT user_id AS value FROM wallets WHERE user_id = ANY($1) ORDER BY user_id \
    FOR NO KEY UPDATE";

/// Step 4: the guarded debit; `$1` users, `$2` prices. Untouched wallets cannot pay.
const DEBIT: &str = "\
    UPDATE wallets w SET balance = w.balance - d.price, updated_at = now() \
    FROM unnest($1::bigint[], $2::bigint[]) AS d(u, price) \
    WHERE w.user_id = d.u AND w.user_id = ANY($1) AND w.balance >= d.price \
    RETURNING w.user_id, w.balance, now() AS at";

/// Step 4, a test's negative control only ([`Guard::Balance`] off): the debit always happens.
const DEBIT_UNGUARDED: &str = "\
    WITH made AS (INSERT INTO wallets (user_id) SELECT unnest($1::bigint[]) ON CONFLICT DO NOTHING) \
    UPDATE wallets w SET balance = w.balance - d.price, updated_at = now() \
    FROM unnest($1::bigint[], $2::bigint[]) AS d(u, price) \
    WHERE w.user_id = d.u AND w.user_id = ANY($1) \
    RETURNING w.user_id, w.balance, now() AS at";

/// Step 5a: `$1` ids; `$2` whether each must still be HELD (its time was judged in step 3a).
const CONFIRM: &str = "\
    UPDATE reservations r SET status = 'CONFIRMED' \
    FROM unnest($1::uuid[], $2::bool[]) AS k(id, guarded) \
    WHERE r.id = k.id AND r.id = ANY($1) \
      AND (NOT k.guarded OR r.status = 'HELD')";

/// Step 5b: `$1` payment ids, `$2` reservations, `$3` users, `$4` amounts.
const INSERT_PAYMENTS: &str = "\
    INSERT INTO payments (id, reservation_id, user_id, amount) \
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::bigint[])";

/// Step 5c: `$1` entry ids, `$2` users, `$3` amounts (negative), `$4` balances after, `$5`
/// payment ids.
const INSERT_LEDGER: &str = "\
    INSERT INTO ledger_entries (id, user_id, kind, amount, balance_after, reference, payment_id) \
    SELECT e.id, e.u, 'PAYMENT', e.amount, e.after, e.p::text, e.p \
    FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::bigint[], $5::uuid[]) \
        AS e(id, u, amount, after, p)";

/// Step 5d: paying uses up the active slot; `$1` token ids.
const EXPIRE_TOKENS: &str = "\
    UPDATE queue_tokens SET status = 'EXPIRED' WHERE id = ANY($1) AND status = 'ACTIVE'";

/// Step 5e: the outcomes under their keys.
const INSERT_RECORDS: &str = "\
    INSERT INTO idempotency_records (user_id, key, fingerprint, outcome, rejection, \
        payment_id, reservation_id, amount, balance, occurred_at) \
    SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], \
        $6::uuid[], $7::uuid[], $8::bigint[], $9::bigint[], $10::timestamptz[])";

#[derive(QueryableByName)]
struct Index {
    #[diesel(sql_type = BigInt)]
    value: i64,
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

/// A payment's fate inside the batch transaction.
#[derive(Debug, Clone)]
enum Fate {
    /// Settled by the batch.
    Answered(Called),
    /// Left for a call alone after the batch (key busy, or a second payment of its user).
    Alone,
}

/// The payments of one batch; each left-out or failed one paid alone.
pub(crate) async fn payments_batch(
    reader: Reader,
    keys: Vec<PayKey>,
) -> Result<Vec<PayAnswer>, StoreError> {
    let fates = if keys.len() == 1 {
        vec![Fate::Alone]
    } else {
        let batch = reader
            .tx(MAX_ATTEMPTS, |conn| payments_tx(conn, keys.clone()).boxed())
            .await;
        match batch {
            Ok(fates) => fates,
            Err(failure) => {
                let why = failure.into_error();
                if matches!(why, StoreError::Unavailable(_)) {
                    return Err(why);
                }
                tracing::warn!(error = %why, payments = keys.len(), "payment batch failed; paying each alone");
                vec![Fate::Alone; keys.len()]
            }
        }
    };
    let mut answers = Vec::with_capacity(keys.len());
    for ((payment, guards), fate) in keys.iter().zip(fates) {
        answers.push(match fate {
            Fate::Answered(called) => Ok(called),
            Fate::Alone => pay_alone(&reader, payment, *guards).await,
        });
    }
    Ok(answers)
}

/// Steps 1-5 for one batch.
#[allow(clippy::too_many_lines)] // one transaction, read top to bottom step by step
fn payments_tx(
    conn: &mut AsyncPgConnection,
    keys: Vec<PayKey>,
) -> TxFuture<'_, Vec<Fate>, StoreError> {
    Box::pin(async move {
        let n = keys.len();
        let mut fates: Vec<Option<Fate>> = vec![None; n];
        // One payment per user per batch: the others go alone, after it.
        let (_, first_of) = distinct(&keys.iter().map(|k| k.0.user_id.get()).collect::<Vec<_>>());
        let mut seen = HashSet::new();
        for (i, slot) in first_of.iter().enumerate() {
            if !seen.insert(*slot) {
                fates[i] = Some(Fate::Alone);
            }
        }
        let open =
            |fates: &[Option<Fate>]| (0..n).filter(|&i| fates[i].is_none()).collect::<Vec<_>>();
        let mut pending = open(&fates);

        // 1. The keys.
        let users: Vec<i64> = pending.iter().map(|&i| keys[i].0.user_id.get()).collect();
        let names: Vec<String> = pending
            .iter()
            .map(|&i| keys[i].0.idempotency.key.as_str().to_owned())
            .collect();
        let claimed: Vec<Index> = crate::sql::sql_query(TRY_KEYS)
            .bind::<Array<BigInt>, _>(users.clone())
            .bind::<Array<Text>, _>(names.clone())
            .load(conn)
            .await?;
        let claimed: HashSet<usize> = claimed
            .into_iter()
            .filter_map(|c| usize::try_from(c.value - 1).ok())
            .collect();
        for (k, &i) in pending.iter().enumerate() {
            if !claimed.contains(&k) {
                fates[i] = Some(Fate::Alone);
            }
        }

        // 2. Stored records: replays and reuses.
        let records: Vec<KeyedRecord> = crate::sql::sql_query(RECORDS_OF_KEYS)
            .bind::<Array<BigInt>, _>(users)
            .bind::<Array<Text>, _>(names)
            .load(conn)
            .await?;
        let records: HashMap<(i64, String), IdempotencyRow> = records
            .into_iter()
            .map(|r| ((r.user_id, r.key), r.record))
            .collect();
        pending = open(&fates);
        for &i in &pending {
            let p = &keys[i].0;
            let stored = records.get(&(p.user_id.get(), p.idempotency.key.as_str().to_owned()));
            if let Some(record) = stored {
                fates[i] = Some(Fate::Answered(
                    if record.fingerprint == p.idempotency.fingerprint.as_str() {
                        match record.clone().into_domain().map_err(Fail::Store)?.outcome {
                            Some(outcome) => Called::Done(outcome),
                            None => Called::InUse,
                        }
                    } else {
                        Called::Reused
                    },
                ));
            }
        }
        pending = open(&fates);
        if pending.is_empty() {
            return Ok(settled(fates));
        }

        // 3. Reservations, tokens, wallets: locked, in that order, each in id order.
        let targets: Vec<Target> = crate::sql::sql_query(TARGETS)
            .bind::<Array<SqlUuid>, _>(
                pending
                    .iter()
                    .map(|&i| keys[i].0.reservation_id.get())
                    .collect::<Vec<_>>(),
            )
            .load(conn)
            .await?;
        let targets: HashMap<Uuid, Target> = targets.into_iter().map(|t| (t.id, t)).collect();
        let token_ids: Vec<Uuid> = pending
            .iter()
            .filter(|&&i| keys[i].1.on(Guard::TokenActive))
            .map(|&i| keys[i].0.queue_token.get())
            .collect();
        let tokens: HashMap<Uuid, LockedToken> = if token_ids.is_empty() {
            HashMap::new()
        } else {
            let rows: Vec<LockedToken> = crate::sql::sql_query(TOKENS)
                .bind::<Array<SqlUuid>, _>(token_ids)
                .load(conn)
                .await?;
            rows.into_iter().map(|t| (t.id, t)).collect()
        };

        // 4. Decisions before money: not found, token not active, not payable.
        let mut rejected: Vec<(usize, &'static str)> = Vec::new();
        let mut to_debit: Vec<(usize, i64)> = Vec::new();
        for &i in &pending {
            let (p, guards) = &keys[i];
            let Some(target) = targets
                .get(&p.reservation_id.get())
                .filter(|t| t.user_id == p.user_id.get())
            else {
                fates[i] = Some(Fate::Answered(Called::NotFound));
                continue;
            };
            if guards.on(Guard::TokenActive) {
                let ok = tokens
                    .get(&p.queue_token.get())
                    .is_some_and(|t| t.admits(p.user_id.get(), target.concert_id));
                if !ok {
                    fates[i] = Some(Fate::Answered(Called::TokenNotActive));
                    continue;
                }
            }
            if guards.on(Guard::Payable) && !target.payable {
                rejected.push((i, "NOT_PAYABLE"));
                continue;
            }
            to_debit.push((i, target.total_price));
        }

        //    The debit: one conditional update for the guarded, one plain for a negative control.
        let mut debited: HashMap<i64, Debited> = HashMap::new();
        if !to_debit.is_empty() {
            let payers: Vec<i64> = to_debit
                .iter()
                .map(|&(i, _)| keys[i].0.user_id.get())
                .collect();
            let free: Vec<i64> = to_debit
                .iter()
                .filter(|&&(_, price)| price == 0)
                .map(|&(i, _)| keys[i].0.user_id.get())
                .collect();
            if !free.is_empty() {
                crate::sql::sql_query(ENSURE_WALLETS)
                    .bind::<Array<BigInt>, _>(free)
                    .execute(conn)
                    .await?;
            }
            crate::sql::sql_query(LOCK_WALLETS)
                .bind::<Array<BigInt>, _>(payers)
                .execute(conn)
                .await?;
            for guarded in [true, false] {
                let part: Vec<&(usize, i64)> = to_debit
                    .iter()
                    .filter(|(i, _)| keys[*i].1.on(Guard::Balance) == guarded)
                    .collect();
                if part.is_empty() {
                    continue;
                }
                let rows: Vec<Debited> =
                    crate::sql::sql_query(if guarded { DEBIT } else { DEBIT_UNGUARDED })
                        .bind::<Array<BigInt>, _>(
                            part.iter()
                                .map(|(i, _)| keys[*i].0.user_id.get())
                                .collect::<Vec<_>>(),
                        )
                        .bind::<Array<BigInt>, _>(
                            part.iter().map(|(_, price)| *price).collect::<Vec<_>>(),
                        )
                        .load(conn)
                        .await?;
                debited.extend(rows.into_iter().map(|d| (d.user_id, d)));
            }
        }

        // 5. The writes.
        let mut paid: Vec<(usize, i64, &Debited)> = Vec::new();
        for &(i, price) in &to_debit {
            match debited.get(&keys[i].0.user_id.get()) {
                Some(d) => paid.push((i, price, d)),
                None => rejected.push((i, "INSUFFICIENT_BALANCE")),
            }
        }
        if !paid.is_empty() {
            let col = |f: &dyn Fn(&NewPayment) -> Uuid| -> Vec<Uuid> {
                paid.iter().map(|&(i, _, _)| f(&keys[i].0)).collect()
            };
            let users: Vec<i64> = paid
                .iter()
                .map(|&(i, _, _)| keys[i].0.user_id.get())
                .collect();
            let prices: Vec<i64> = paid.iter().map(|&(_, price, _)| price).collect();
            let confirmed = crate::sql::sql_query(CONFIRM)
                .bind::<Array<SqlUuid>, _>(col(&|p| p.reservation_id.get()))
                .bind::<Array<Bool>, _>(
                    paid.iter()
                        .map(|&(i, _, _)| keys[i].1.on(Guard::Payable))
                        .collect::<Vec<_>>(),
                )
                .execute(conn)
                .await?;
            if confirmed != paid.len() {
                // Checked above under the row locks: unreachable.
                return Err(Fail::Store(StoreError::Internal(
                    "a reservation changed under its lock".into(),
                )));
            }
            crate::sql::sql_query(INSERT_PAYMENTS)
                .bind::<Array<SqlUuid>, _>(col(&|p| p.payment_id.get()))
                .bind::<Array<SqlUuid>, _>(col(&|p| p.reservation_id.get()))
                .bind::<Array<BigInt>, _>(users.clone())
                .bind::<Array<BigInt>, _>(prices.clone())
                .execute(conn)
                .await?;
            crate::sql::sql_query(INSERT_LEDGER)
                .bind::<Array<SqlUuid>, _>(col(&|p| p.transaction_id.get()))
                .bind::<Array<BigInt>, _>(users)
                .bind::<Array<BigInt>, _>(prices.iter().map(|p| -p).collect::<Vec<_>>())
                .bind::<Array<BigInt>, _>(
                    paid.iter().map(|&(_, _, d)| d.balance).collect::<Vec<_>>(),
                )
                .bind::<Array<SqlUuid>, _>(col(&|p| p.payment_id.get()))
                .execute(conn)
                .await?;
            crate::sql::sql_query(EXPIRE_TOKENS)
                .bind::<Array<SqlUuid>, _>(col(&|p| p.queue_token.get()))
                .execute(conn)
                .await?;
        }

        //    The outcomes under their keys (paid and rejected alike), then the answers.
        let mut recorded: Vec<(usize, IdempotencyRow)> = Vec::new();
        for &(i, price, d) in &paid {
            let p = &keys[i].0;
            recorded.push((
                i,
                IdempotencyRow {
                    fingerprint: p.idempotency.fingerprint.as_str().to_owned(),
                    outcome: "PAID".into(),
                    rejection: None,
                    transaction_id: None,
                    payment_id: Some(p.payment_id.get()),
                    reservation_id: Some(p.reservation_id.get()),
                    amount: Some(price),
                    balance: Some(d.balance.max(0)),
                    occurred_at: Some(d.at),
                },
            ));
        }
        for &(i, why) in &rejected {
            recorded.push((
                i,
                IdempotencyRow {
                    fingerprint: keys[i].0.idempotency.fingerprint.as_str().to_owned(),
                    outcome: "PAYMENT_REJECTED".into(),
                    rejection: Some(why.into()),
                    transaction_id: None,
                    payment_id: None,
                    reservation_id: None,
                    amount: None,
                    balance: None,
                    occurred_at: None,
                },
            ));
        }
        if !recorded.is_empty() {
            let rows = || recorded.iter().map(|(_, r)| r);
            crate::sql::sql_query(INSERT_RECORDS)
                .bind::<Array<BigInt>, _>(
                    recorded
                        .iter()
                        .map(|(i, _)| keys[*i].0.user_id.get())
                        .collect::<Vec<_>>(),
                )
                .bind::<Array<Text>, _>(
                    recorded
                        .iter()
                        .map(|(i, _)| keys[*i].0.idempotency.key.as_str().to_owned())
                        .collect::<Vec<_>>(),
                )
                .bind::<Array<Text>, _>(rows().map(|r| r.fingerprint.clone()).collect::<Vec<_>>())
                .bind::<Array<Text>, _>(rows().map(|r| r.outcome.clone()).collect::<Vec<_>>())
                .bind::<Array<Nullable<Text>>, _>(
                    rows().map(|r| r.rejection.clone()).collect::<Vec<_>>(),
                )
                .bind::<Array<Nullable<SqlUuid>>, _>(
                    rows().map(|r| r.payment_id).collect::<Vec<_>>(),
                )
                .bind::<Array<Nullable<SqlUuid>>, _>(
                    rows().map(|r| r.reservation_id).collect::<Vec<_>>(),
                )
                .bind::<Array<Nullable<BigInt>>, _>(rows().map(|r| r.amount).collect::<Vec<_>>())
                .bind::<Array<Nullable<BigInt>>, _>(rows().map(|r| r.balance).collect::<Vec<_>>())
                .bind::<Array<Nullable<Timestamptz>>, _>(
                    rows().map(|r| r.occurred_at).collect::<Vec<_>>(),
                )
                .execute(conn)
                .await?;
        }
        for (i, row) in recorded {
            let outcome = row.into_domain().map_err(Fail::Store)?.outcome;
            fates[i] = Some(Fate::Answered(match outcome {
                Some(outcome) => Called::Done(outcome),
                None => Called::InUse,
            }));
        }
        Ok(settled(fates))
    })
}

/// Every fate (each is set by now; an unset one is paid alone).
fn settled(fates: Vec<Option<Fate>>) -> Vec<Fate> {
    fates
        .into_iter()
        .map(|f| f.unwrap_or(Fate::Alone))
        .collect()
}
