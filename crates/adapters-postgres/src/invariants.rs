//! The invariant checker: every invariant of the API contract, checked in SQL over one consistent
//! snapshot of the whole database. Race tests run it continuously while callers hammer the store
//! and once at the end; it reports violations instead of failing on the first one.
//!
//! All checks run in one `REPEATABLE READ READ ONLY` transaction, so they all see the same
//! instant. Time-based rules ("HELD and unexpired", "ACTIVE and inside its window") are judged at
//! the `clock_timestamp()` read by the first statement, i.e. just *after* the snapshot was taken:
//! every transaction visible in the snapshot committed before that instant, so its own `now()` is
//! no later than it (judging by the checker's `now()`, the transaction start, could see a hold
//! that a later-starting, already-committed transaction correctly treated as lapsed).
//!
//! | # | invariant (docs/api.md) | what is checked |
//! |---|---|---|
//! | 1 | a seat has at most one CONFIRMED or HELD-and-unexpired reservation | per seat, such reservations ≤ 1; a line is `live` exactly while its reservation is HELD or CONFIRMED (no released line of a live hold, no live line of an EXPIRED/CANCELLED one: no leak); every line of a CONFIRMED reservation is live; a seat belongs to at most one CONFIRMED reservation, released lines included (a sale is never undone, so a second one is a double sale whatever the lines say) |
//! | 2 | balance ≥ 0 and = sum of its ledger; the ledger reads like a bank statement | per wallet; walking its entries in `seq` order (the order the balance changed), each `balance_after` is the running sum of the amounts (so the newest is the balance); entries are numbered 1..n and the wallet's counter is at n |
//! | 3 | charged = balances + paid − refunded | over all wallets, `paid` from `payments` |
//! | 4 | paid at most once, exactly its total price, never expired or cancelled | ≤ 1 payment per reservation; amount = `total_price` = sum of its lines; payer = holder; paid before `held_until`; CONFIRMED ⇔ paid; each payment has exactly one PAYMENT ledger entry of −amount |
//! | 5 | active ≤ maxActive, admission in issue order | per concert, unexpired ACTIVE tokens ≤ `coalesce(max_active, default)`; no live WAITING token with a smaller `seq` than an admitted one; `admitted_through` ≥ every admitted `seq`, `next_seq` ≥ every issued one |
//! | 6 | a replayed key never moves money twice | ≤ 1 CHARGE entry per (user, key); each CHARGE entry is the one its key's CHARGED record names; each payment is named by exactly one PAID record; each refund by exactly one REFUNDED record |
//! | refunds (v1.1) | refunded at most once, only after it was paid, for exactly the amount paid; a REFUNDED reservation holds no seat | ≤ 1 refund per reservation; REFUNDED ⇔ refunded; each refund has the reservation's payment, same payer and amount, dated at or after it (invariant 4); one REFUND entry of +amount per refund and none without one (invariant 3); a REFUNDED reservation's lines are released (`seat_lines_match_status`, invariant 1); CONFIRMED or REFUNDED ⇔ paid |
//! | 7 | waiting lists (v1.1) | an OFFERED entry whose offer is a live hold has exactly one live line, of its offer seat, for its user and date (a stored-OFFERED entry whose offer lapsed or was cancelled is EXPIRED/LEFT in effect; a CONFIRMED offer with the entry still OFFERED is a violation: payments fulfil in the same statement); no seat has two live offers; ≤ 1 live entry per (user, date); a WAITING entry has no offer; a FULFILLED entry's offer is CONFIRMED |
//!
//! The cap of check 5 is the setting in force: an operator who lowers `maxActive` below the
//! number of active tokens makes it report until enough windows close.

use crate::rows::micros;
use crate::store::PgStore;
use diesel::sql_types::{BigInt, Integer, Text, Timestamptz};
use diesel_async::{AnsiTransactionManager, AsyncPgConnection, RunQueryDsl, TransactionManager};
use domain::invariants::{InvariantReport, Violation};
use domain::{QueuePolicy, StoreError, Timestamp};
use futures::FutureExt;

/// One check: the invariant, a name, and a query returning one `detail` row per violation.
/// Parameters: `$1` the check instant, `$2` the default `max_active`, `$3` the idle timeout (µs).
struct Check {
    invariant: u8,
    name: &'static str,
    sql: &'static str,
}

const CHECKS: &[Check] = &[
    Check {
        invariant: 1,
        name: "seat_one_live",
        sql: "SELECT format('seat %s has %s live reservations (%s)', rs.seat_id, count(*), \
                  string_agg(r.id::text || ' ' || r.status, ', ' ORDER BY r.id)) AS detail \
              FROM reservation_seats rs JOIN reservations r ON r.id = rs.reservation_id \
              WHERE r.status = 'CONFIRMED' OR (r.status = 'HELD' AND r.held_until > $1) \
              GROUP BY rs.seat_id HAVING count(*) > 1",
    },
    Check {
        invariant: 1,
        name: "seat_lines_match_status",
        sql: "SELECT format('seat %s: %s line of %s reservation %s', rs.seat_id, \
                  CASE WHEN rs.live THEN 'live' ELSE 'released' END, r.status, r.id) AS detail \
              FROM reservation_seats rs JOIN reservations r ON r.id = rs.reservation_id \
              WHERE (rs.live AND r.status IN ('EXPIRED', 'CANCELLED', 'REFUNDED')) \
                 OR (NOT rs.live \
                     AND (r.status = 'CONFIRMED' OR (r.status = 'HELD' AND r.held_until > $1)))",
    },
    Check {
        invariant: 1,
        name: "confirmed_lines_all_live",
        sql: "SELECT format('CONFIRMED reservation %s has released seat line(s) %s', r.id, \
                  string_agg(rs.seat_id::text, ', ' ORDER BY rs.seat_id)) AS detail \
              FROM reservations r JOIN reservation_seats rs ON rs.reservation_id = r.id \
              WHERE r.status = 'CONFIRMED' AND NOT rs.live \
              GROUP BY r.id",
    },
    Check {
        invariant: 1,
        name: "seat_sold_once",
        sql: "SELECT format('seat %s is sold to %s reservations (%s)', rs.seat_id, count(*), \
                  string_agg(r.id::text, ', ' ORDER BY r.id)) AS detail \
              FROM reservation_seats rs JOIN reservations r ON r.id = rs.reservation_id \
              WHERE r.status = 'CONFIRMED' \
              GROUP BY rs.seat_id HAVING count(*) > 1",
    },
    Check {
        invariant: 2,
        name: "balance_matches_ledger",
        sql: "SELECT format('wallet of user %s: balance %s, ledger sum %s', w.user_id, w.balance, \
                  coalesce(l.total, 0)) AS detail \
              FROM wallets w LEFT JOIN ( \
                  SELECT user_id, sum(amount) AS total FROM ledger_entries GROUP BY user_id) l \
                ON l.user_id = w.user_id \
              WHERE w.balance < 0 OR w.balance <> coalesce(l.total, 0)",
    },
    Check {
        invariant: 2,
        name: "ledger_running_sum",
        sql: "SELECT format('wallet of user %s: entry %s (#%s, %s %s) says balance %s, \
                  running sum %s', l.user_id, l.id, l.seq, l.kind, l.amount, l.balance_after, \
                  l.running) AS detail \
              FROM (SELECT user_id, id, seq, kind, amount, balance_after, \
                        sum(amount) OVER (PARTITION BY user_id ORDER BY seq) AS running \
                    FROM ledger_entries) l \
              WHERE l.balance_after <> l.running",
    },
    Check {
        invariant: 2,
        name: "ledger_numbered_without_gaps",
        sql: "SELECT format('wallet of user %s: %s entries numbered %s to %s, counter at %s', \
                  w.user_id, coalesce(l.n, 0), l.first, l.last, w.ledger_seq) AS detail \
              FROM wallets w LEFT JOIN ( \
                  SELECT user_id, count(*) AS n, min(seq) AS first, max(seq) AS last \
                  FROM ledger_entries GROUP BY user_id) l ON l.user_id = w.user_id \
              WHERE w.ledger_seq <> coalesce(l.n, 0) \
                 OR (l.n > 0 AND (l.first <> 1 OR l.last <> l.n))",
    },
    Check {
        invariant: 3,
        name: "money_conserved",
        sql: "SELECT format('charged %s <> balances %s + paid %s - refunded %s', \
                  charged, balances, paid, refunded) AS detail \
              FROM (SELECT \
                  (SELECT coalesce(sum(amount), 0) FROM ledger_entries WHERE kind = 'CHARGE') \
                      AS charged, \
                  (SELECT coalesce(sum(balance), 0) FROM wallets) AS balances, \
                  (SELECT coalesce(sum(amount), 0) FROM payments) AS paid, \
                  (SELECT coalesce(sum(amount), 0) FROM ledger_entries WHERE kind = 'REFUND') \
                      AS refunded) t \
              WHERE charged <> balances + paid - refunded",
    },
    Check {
        invariant: 3,
        name: "refund_in_ledger",
        sql: "SELECT format('refund %s of %s has %s ledger entries summing to %s', f.id, \
                  f.amount, count(l.id), coalesce(sum(l.amount), 0)) AS detail \
              FROM refunds f LEFT JOIN ledger_entries l \
                ON l.refund_id = f.id AND l.kind = 'REFUND' \
              GROUP BY f.id, f.amount \
              HAVING count(l.id) <> 1 OR coalesce(sum(l.amount), 0) <> f.amount \
              UNION ALL \
              SELECT format('REFUND ledger entry %s names no refund', l.id) \
              FROM ledger_entries l LEFT JOIN refunds f ON f.id = l.refund_id \
              WHERE l.kind = 'REFUND' AND f.id IS NULL",
    },
    Check {
        invariant: 4,
        name: "paid_at_most_once",
        sql: "SELECT format('reservation %s has %s payments', reservation_id, count(*)) AS detail \
              FROM payments GROUP BY reservation_id HAVING count(*) > 1",
    },
    Check {
        invariant: 4,
        name: "payment_matches_reservation",
        sql: "SELECT format('payment %s of %s by user %s at %s: reservation %s of user %s, \
                  total %s, held until %s', p.id, p.amount, p.user_id, p.paid_at, r.id, \
                  r.user_id, r.total_price, r.held_until) AS detail \
              FROM payments p JOIN reservations r ON r.id = p.reservation_id \
              WHERE p.amount <> r.total_price OR p.user_id <> r.user_id \
                 OR p.paid_at >= r.held_until",
    },
    Check {
        invariant: 4,
        name: "confirmed_iff_paid",
        sql: "SELECT format('%s reservation %s has %s payments', r.status, r.id, count(p.id)) \
                  AS detail \
              FROM reservations r LEFT JOIN payments p ON p.reservation_id = r.id \
              GROUP BY r.id, r.status \
              HAVING (r.status IN ('CONFIRMED', 'REFUNDED') AND count(p.id) <> 1) \
                  OR (r.status NOT IN ('CONFIRMED', 'REFUNDED') AND count(p.id) > 0)",
    },
    Check {
        invariant: 4,
        name: "total_is_sum_of_seats",
        sql: "SELECT format('reservation %s: total %s, seats sum to %s', r.id, r.total_price, \
                  coalesce(sum(rs.price), 0)) AS detail \
              FROM reservations r LEFT JOIN reservation_seats rs ON rs.reservation_id = r.id \
              GROUP BY r.id, r.total_price \
              HAVING count(rs.seat_id) = 0 OR r.total_price <> sum(rs.price)",
    },
    Check {
        invariant: 4,
        name: "payment_in_ledger",
        sql: "SELECT format('payment %s of %s has %s ledger entries summing to %s', p.id, \
                  p.amount, count(l.id), coalesce(sum(l.amount), 0)) AS detail \
              FROM payments p LEFT JOIN ledger_entries l \
                ON l.payment_id = p.id AND l.kind = 'PAYMENT' \
              GROUP BY p.id, p.amount \
              HAVING count(l.id) <> 1 OR coalesce(sum(l.amount), 0) <> -p.amount",
    },
    Check {
        invariant: 4,
        name: "refunded_at_most_once",
        sql: "SELECT format('reservation %s has %s refunds', reservation_id, count(*)) AS detail \
              FROM refunds GROUP BY reservation_id HAVING count(*) > 1",
    },
    Check {
        invariant: 4,
        name: "refunded_iff_refund",
        sql: "SELECT format('%s reservation %s has %s refunds', r.status, r.id, count(f.id)) \
                  AS detail \
              FROM reservations r LEFT JOIN refunds f ON f.reservation_id = r.id \
              GROUP BY r.id, r.status \
              HAVING (r.status = 'REFUNDED' AND count(f.id) <> 1) \
                  OR (r.status <> 'REFUNDED' AND count(f.id) > 0)",
    },
    Check {
        invariant: 4,
        name: "refund_matches_payment",
        sql: "SELECT format('refund %s of %s to user %s at %s for reservation %s: payment %s \
                  of %s by user %s at %s', f.id, f.amount, f.user_id, f.refunded_at, \
                  f.reservation_id, p.id, p.amount, p.user_id, p.paid_at) AS detail \
              FROM refunds f LEFT JOIN payments p ON p.reservation_id = f.reservation_id \
              WHERE p.id IS NULL OR p.amount <> f.amount OR p.user_id <> f.user_id \
                 OR f.refunded_at < p.paid_at",
    },
    Check {
        invariant: 5,
        name: "active_within_cap",
        sql: "SELECT format('concert %s: %s active tokens, cap %s', q.concert_id, a.n, \
                  coalesce(q.max_active, $2)) AS detail \
              FROM concert_queues q CROSS JOIN LATERAL ( \
                  SELECT count(*) AS n FROM queue_tokens t \
                  WHERE t.concert_id = q.concert_id AND t.status = 'ACTIVE' \
                    AND t.active_until > $1) a \
              WHERE a.n > coalesce(q.max_active, $2)",
    },
    Check {
        invariant: 5,
        name: "admission_in_issue_order",
        sql: "SELECT format('concert %s: token seq %s still waits behind admitted seq %s', \
                  t.concert_id, t.seq, m.through) AS detail \
              FROM queue_tokens t JOIN ( \
                  SELECT concert_id, max(seq) AS through FROM queue_tokens \
                  WHERE admitted_at IS NOT NULL GROUP BY concert_id) m \
                ON m.concert_id = t.concert_id \
              WHERE t.status = 'WAITING' AND t.seq < m.through \
                AND t.last_polled_at > $1 - $3::float8 * interval '1 microsecond'",
    },
    Check {
        invariant: 5,
        name: "queue_counters",
        sql: "SELECT format('concert %s: next_seq %s, admitted_through %s, highest seq %s, \
                  highest admitted %s', q.concert_id, q.next_seq, q.admitted_through, \
                  s.issued, s.admitted) AS detail \
              FROM concert_queues q JOIN ( \
                  SELECT concert_id, max(seq) AS issued, \
                      coalesce(max(seq) FILTER (WHERE admitted_at IS NOT NULL), 0) AS admitted \
                  FROM queue_tokens GROUP BY concert_id) s ON s.concert_id = q.concert_id \
              WHERE q.next_seq < s.issued OR q.admitted_through < s.admitted",
    },
    Check {
        invariant: 6,
        name: "one_charge_per_key",
        sql: "SELECT format('user %s key %s moved money %s times', user_id, reference, count(*)) \
                  AS detail \
              FROM ledger_entries WHERE kind = 'CHARGE' \
              GROUP BY user_id, reference HAVING count(*) > 1",
    },
    Check {
        invariant: 6,
        name: "charge_has_its_record",
        sql: "SELECT format('charge %s of user %s under key %s is not its record''s', l.id, \
                  l.user_id, l.reference) AS detail \
              FROM ledger_entries l LEFT JOIN idempotency_records i \
                ON i.user_id = l.user_id AND i.key = l.reference \
              WHERE l.kind = 'CHARGE' \
                AND (i.key IS NULL OR i.outcome <> 'CHARGED' \
                     OR i.transaction_id IS DISTINCT FROM l.id)",
    },
    Check {
        invariant: 6,
        name: "payment_has_one_record",
        sql: "SELECT format('payment %s is named by %s PAID records', p.id, count(i.key)) \
                  AS detail \
              FROM payments p LEFT JOIN idempotency_records i \
                ON i.payment_id = p.id AND i.outcome = 'PAID' \
              GROUP BY p.id HAVING count(i.key) <> 1",
    },
    Check {
        invariant: 6,
        name: "refund_has_one_record",
        sql: "SELECT format('refund %s is named by %s REFUNDED records', f.id, count(i.key)) \
                  AS detail \
              FROM refunds f LEFT JOIN idempotency_records i \
                ON i.refund_id = f.id AND i.outcome = 'REFUNDED' \
              GROUP BY f.id HAVING count(i.key) <> 1",
    },
    Check {
        invariant: 7,
        name: "waitlist_offer_live_hold",
        sql: "SELECT format('OFFERED entry %s has no live HELD offer of one seat of its date for \
                  its user (reservation %s %s)', w.id, r.id, r.status) AS detail \
              FROM waitlist_entries w LEFT JOIN reservations r ON r.id = w.offer_reservation_id \
              WHERE w.status = 'OFFERED' AND (r.status IS NULL OR r.status = 'CONFIRMED' \
                 OR (r.status = 'HELD' AND r.held_until > $1 AND (r.user_id <> w.user_id \
                     OR r.schedule_id <> w.schedule_id OR ( \
                     SELECT count(*) FILTER (WHERE rs.live AND rs.seat_id = w.offer_seat_id) \
                         <> 1 OR count(*) <> 1 \
                     FROM reservation_seats rs WHERE rs.reservation_id = r.id))))",
    },
    Check {
        invariant: 7,
        name: "waitlist_one_offer_per_seat",
        sql: "SELECT format('seat %s has %s live offers', w.offer_seat_id, count(*)) AS detail \
              FROM waitlist_entries w JOIN reservations r ON r.id = w.offer_reservation_id \
              WHERE w.status = 'OFFERED' AND r.status = 'HELD' AND r.held_until > $1 \
              GROUP BY w.offer_seat_id HAVING count(*) > 1",
    },
    Check {
        invariant: 7,
        name: "waitlist_one_live_entry",
        sql: "SELECT format('user %s has %s live entries for schedule %s', w.user_id, count(*), \
                  w.schedule_id) AS detail \
              FROM waitlist_entries w LEFT JOIN reservations r ON r.id = w.offer_reservation_id \
              WHERE w.status = 'WAITING' \
                 OR (w.status = 'OFFERED' AND r.status = 'HELD' AND r.held_until > $1) \
              GROUP BY w.user_id, w.schedule_id HAVING count(*) > 1",
    },
    Check {
        invariant: 7,
        name: "waitlist_entry_consistent",
        sql: "SELECT format('entry %s is %s with offer %s', w.id, w.status, \
                  w.offer_reservation_id) AS detail \
              FROM waitlist_entries w LEFT JOIN reservations r ON r.id = w.offer_reservation_id \
              WHERE (w.status = 'WAITING' AND w.offer_reservation_id IS NOT NULL) \
                 OR (w.status = 'FULFILLED' AND r.status IS DISTINCT FROM 'CONFIRMED')",
    },
];

#[derive(diesel::QueryableByName)]
struct Detail {
    #[diesel(sql_type = Text)]
    detail: String,
}

#[derive(diesel::QueryableByName)]
struct Instant {
    #[diesel(sql_type = Timestamptz)]
    at: Timestamp,
}

async fn run_checks(
    conn: &mut AsyncPgConnection,
    policy: QueuePolicy,
) -> diesel::QueryResult<InvariantReport> {
    // The snapshot is taken at the start of this statement; the clock is read after it.
    let at: Instant = diesel::sql_query("SELECT clock_timestamp() AS at")
        .get_result(conn)
        .await?;
    let max_active = i32::try_from(policy.max_active()).unwrap_or(i32::MAX);
    let idle = micros(policy.idle_timeout());
    let mut violations = Vec::new();
    for check in CHECKS {
        let rows: Vec<Detail> = diesel::sql_query(check.sql)
            .bind::<Timestamptz, _>(at.at)
            .bind::<Integer, _>(max_active)
            .bind::<BigInt, _>(idle)
            .load(conn)
            .await?;
        violations.extend(rows.into_iter().map(|row| Violation {
            invariant: check.invariant,
            check: check.name,
            detail: row.detail,
        }));
    }
    Ok(InvariantReport {
        checked_at: at.at,
        violations,
    })
}

/// Runs the checks in one `REPEATABLE READ READ ONLY` transaction.
async fn in_one_snapshot(
    conn: &mut AsyncPgConnection,
    policy: QueuePolicy,
) -> diesel::QueryResult<InvariantReport> {
    AnsiTransactionManager::begin_transaction_sql(
        conn,
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    )
    .await?;
    match run_checks(conn, policy).await {
        Ok(report) => {
            AnsiTransactionManager::commit_transaction(conn).await?;
            Ok(report)
        }
        Err(e) => {
            if let Err(rollback) = AnsiTransactionManager::rollback_transaction(conn).await {
                tracing::debug!(error = %rollback, "rollback failed; the connection is dropped");
            }
            Err(e)
        }
    }
}

impl PgStore {
    /// Checks every invariant of the API contract over one consistent snapshot (see the module
    /// documentation for the list). `policy` supplies the defaults a concert's queue falls back
    /// to (`max_active`, the idle timeout). Read-only; safe to run while the store is in use.
    ///
    /// # Errors
    /// [`StoreError`] when the database cannot run the checks (never for a violation: those are
    /// in the report).
    pub async fn check_invariants(
        &self,
        policy: QueuePolicy,
    ) -> Result<InvariantReport, StoreError> {
        self.db
            .autocommit(|conn| in_one_snapshot(conn, policy).boxed())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_invariant_has_a_check_and_names_are_unique() {
        let mut invariants: Vec<u8> = CHECKS.iter().map(|c| c.invariant).collect();
        invariants.dedup();
        assert_eq!(invariants, vec![1, 2, 3, 4, 5, 6, 7]);
        let mut names: Vec<&str> = CHECKS.iter().map(|c| c.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CHECKS.len());
    }

    #[test]
    fn a_report_lists_the_broken_invariants() {
        let v = |invariant| Violation {
            invariant,
            check: "x",
            detail: "y".into(),
        };
        let report = InvariantReport {
            checked_at: chrono::DateTime::<chrono::Utc>::MIN_UTC,
            violations: vec![v(4), v(1), v(4)],
        };
        assert!(!report.is_clean());
        assert_eq!(report.broken(), vec![1, 4]);
        assert_eq!(v(2).to_string(), "invariant 2 (x): y");
    }
}
