//! The invariant checker of the in-memory store: the same six invariants the PostgreSQL checker
//! (`adapters_postgres::PgStore::check_invariants`) verifies, over the state as one critical
//! section sees it (so, like the database snapshot, one consistent instant).
//!
//! | # | what is checked |
//! |---|---|
//! | 1 | per seat, CONFIRMED or HELD-and-unexpired reservations ≤ 1, and the seat's claim names that reservation (else the seat would read as free); every seat of a CONFIRMED reservation is claimed by it (this store's form of "every line of a CONFIRMED reservation is live"); a seat belongs to at most one CONFIRMED reservation |
//! | 2 | per wallet, balance = sum of its ledger (a balance cannot be negative here: `Money`); walking its ledger in the order the balance changed, each `balance_after` is the running sum (so the newest is the balance) |
//! | 3 | charged = balances + paid − refunded |
//! | 4 | ≤ 1 payment per reservation; amount = total price = sum of its seats; paid before `held_until`; CONFIRMED ⇔ paid; each payment has exactly one PAYMENT entry of −amount |
//! | 5 | per concert, unexpired ACTIVE tokens ≤ the `max_active` in force; no live WAITING token with a smaller `seq` than an admitted one |
//! | 6 | ≤ 1 CHARGE entry per (user, key), each the one its key's record names; each payment named by exactly one stored payment outcome; each refund named by exactly one stored refund outcome |
//! | refunds (3, 4, 1) | ≤ 1 refund per reservation; REFUNDED ⇔ refunded; a refund only of a paid reservation, at or after its payment, for exactly the amount paid; one REFUND entry of +amount per refund and none without one; a REFUNDED reservation claims no seat |
//! | 7 | waiting lists (`waitlist.rs`): an OFFERED entry has exactly one live HELD offer reservation, of one seat of its date, for its user, and the seat's claim names it; no seat has two live offers; ≤ 1 live entry per (user, date); a WAITING entry has no offer and is indexed in its list |

use crate::state::State;
use crate::store::MemoryStore;
use crate::time::minus;
use domain::invariants::{InvariantReport, Violation};
use domain::{
    LedgerKind, PaymentId, QueuePolicy, QueueTokenStatus, RefundId, ReservationId,
    ReservationStatus, SeatId, StoredOutcome, Timestamp, UserId,
};
use std::collections::{BTreeMap, HashMap};

/// Collects violations.
#[derive(Default)]
struct Findings(Vec<Violation>);

impl Findings {
    fn add(&mut self, invariant: u8, check: &'static str, detail: String) {
        self.0.push(Violation {
            invariant,
            check,
            detail,
        });
    }
}

fn i128_of(won: i64) -> i128 {
    i128::from(won)
}

impl State {
    fn check_seats(&self, now: Timestamp, found: &mut Findings) {
        let mut live: BTreeMap<SeatId, Vec<ReservationId>> = BTreeMap::new();
        for r in self.reservations.values() {
            let is_live = r.status == ReservationStatus::Confirmed
                || (r.status == ReservationStatus::Held && r.held_until > now);
            if is_live {
                for seat in &r.seats {
                    live.entry(seat.seat_id).or_default().push(r.id);
                }
            }
        }
        let mut sold: BTreeMap<SeatId, Vec<ReservationId>> = BTreeMap::new();
        for r in self.reservations.values() {
            if r.status == ReservationStatus::Confirmed {
                for line in &r.seats {
                    sold.entry(line.seat_id).or_default().push(r.id);
                }
            }
        }
        for r in self.reservations.values() {
            if r.status != ReservationStatus::Confirmed {
                continue;
            }
            let released: Vec<SeatId> = r
                .seats
                .iter()
                .map(|line| line.seat_id)
                .filter(|seat| self.seats.get(seat).and_then(|s| s.claim) != Some(r.id))
                .collect();
            if !released.is_empty() {
                found.add(
                    1,
                    "confirmed_lines_all_live",
                    format!("CONFIRMED reservation {} lost seat(s) {released:?}", r.id),
                );
            }
        }
        for (seat, buyers) in &sold {
            if buyers.len() > 1 {
                found.add(
                    1,
                    "seat_sold_once",
                    format!("seat {seat} is sold to {} reservations", buyers.len()),
                );
            }
        }
        for (seat, holders) in live {
            if holders.len() > 1 {
                found.add(
                    1,
                    "seat_one_live",
                    format!("seat {seat} has {} live reservations", holders.len()),
                );
            } else if let Some(holder) = holders.first() {
                let claim = self.seats.get(&seat).and_then(|s| s.claim);
                if claim != Some(*holder) {
                    found.add(
                        1,
                        "seat_claim_matches",
                        format!("seat {seat} is claimed by {claim:?}, not by {holder}"),
                    );
                }
            }
        }
    }

    fn check_money(&self, found: &mut Findings) {
        let (mut charged, mut balances, mut refunded) = (0i128, 0i128, 0i128);
        for (user, wallet) in &self.wallets {
            let sum: i128 = wallet.ledger.iter().map(|e| i128_of(e.amount)).sum();
            balances += i128_of(wallet.balance.won());
            if sum != i128_of(wallet.balance.won()) {
                found.add(
                    2,
                    "balance_matches_ledger",
                    format!(
                        "wallet of user {user}: balance {}, ledger sum {sum}",
                        wallet.balance.won()
                    ),
                );
            }
            let mut running = 0i128;
            for e in &wallet.ledger {
                running += i128_of(e.amount);
                if i128_of(e.balance_after.won()) != running {
                    found.add(
                        2,
                        "ledger_running_sum",
                        format!(
                            "wallet of user {user}: entry {} ({:?} {}) says balance {}, \
                             running sum {running}",
                            e.id,
                            e.kind,
                            e.amount,
                            e.balance_after.won()
                        ),
                    );
                }
                match e.kind {
                    LedgerKind::Charge => charged += i128_of(e.amount),
                    LedgerKind::Refund => refunded += i128_of(e.amount),
                    LedgerKind::Payment => {}
                }
            }
        }
        let paid: i128 = self
            .payments
            .values()
            .map(|p| i128_of(p.amount.won()))
            .sum();
        if charged != balances + paid - refunded {
            found.add(
                3,
                "money_conserved",
                format!(
                    "charged {charged} <> balances {balances} + paid {paid} - refunded {refunded}"
                ),
            );
        }
    }

    fn check_payments(&self, found: &mut Findings) {
        let mut per_reservation: HashMap<ReservationId, usize> = HashMap::new();
        let mut entries: HashMap<String, Vec<i64>> = HashMap::new();
        for wallet in self.wallets.values() {
            for e in wallet.ledger.iter() {
                if e.kind == LedgerKind::Payment {
                    let reference = e.reference.clone().unwrap_or_default();
                    entries.entry(reference).or_default().push(e.amount);
                }
            }
        }
        for p in self.payments.values() {
            *per_reservation.entry(p.reservation_id).or_default() += 1;
            match self.reservations.get(&p.reservation_id) {
                None => found.add(
                    4,
                    "payment_matches_reservation",
                    format!("payment {} of an unknown reservation", p.payment_id),
                ),
                Some(r) if r.total_price != p.amount || p.paid_at >= r.held_until => found.add(
                    4,
                    "payment_matches_reservation",
                    format!(
                        "payment {} of {} at {}: reservation {} total {}, held until {}",
                        p.payment_id,
                        p.amount.won(),
                        p.paid_at,
                        r.id,
                        r.total_price.won(),
                        r.held_until
                    ),
                ),
                Some(_) => {}
            }
            let ledger = entries
                .get(&p.payment_id.to_string())
                .cloned()
                .unwrap_or_default();
            if ledger != [-p.amount.won()] {
                found.add(
                    4,
                    "payment_in_ledger",
                    format!("payment {} has ledger entries {ledger:?}", p.payment_id),
                );
            }
        }
        for r in self.reservations.values() {
            let payments = per_reservation.get(&r.id).copied().unwrap_or(0);
            if payments > 1 {
                found.add(
                    4,
                    "paid_at_most_once",
                    format!("reservation {} has {payments} payments", r.id),
                );
            }
            // A REFUNDED reservation was paid once, too (then refunded: `check_refunds`).
            let confirmed = matches!(
                r.status,
                ReservationStatus::Confirmed | ReservationStatus::Refunded
            );
            if (confirmed && payments != 1) || (!confirmed && payments > 0) {
                found.add(
                    4,
                    "confirmed_iff_paid",
                    format!(
                        "{:?} reservation {} has {payments} payments",
                        r.status, r.id
                    ),
                );
            }
            let seats = domain::Money::checked_sum(r.seats.iter().map(|s| s.price));
            if r.seats.is_empty() || seats != Some(r.total_price) {
                found.add(
                    4,
                    "total_is_sum_of_seats",
                    format!("reservation {}: total {}", r.id, r.total_price.won()),
                );
            }
        }
    }

    fn check_queues(&self, now: Timestamp, policy: &QueuePolicy, found: &mut Findings) {
        let idle_cutoff = minus(now, policy.idle_timeout());
        let mut active: HashMap<domain::ConcertId, u64> = HashMap::new();
        let mut admitted_through: HashMap<domain::ConcertId, i64> = HashMap::new();
        for record in self.tokens.values() {
            let t = &record.token;
            if t.status == QueueTokenStatus::Active && t.active_until.is_some_and(|u| u > now) {
                *active.entry(t.concert_id).or_default() += 1;
            }
            if t.active_until.is_some() {
                let through = admitted_through.entry(t.concert_id).or_default();
                *through = (*through).max(t.seq);
            }
        }
        for (concert, line) in &self.lines {
            let cap = u64::from(line.settings(policy).max_active);
            let n = active.get(concert).copied().unwrap_or(0);
            if n > cap {
                found.add(
                    5,
                    "active_within_cap",
                    format!("concert {concert}: {n} active tokens, cap {cap}"),
                );
            }
        }
        for record in self.tokens.values() {
            let t = &record.token;
            let through = admitted_through.get(&t.concert_id).copied().unwrap_or(0);
            if t.status == QueueTokenStatus::Waiting
                && record.last_poll > idle_cutoff
                && t.seq < through
            {
                found.add(
                    5,
                    "admission_in_issue_order",
                    format!(
                        "concert {}: token seq {} still waits behind admitted seq {through}",
                        t.concert_id, t.seq
                    ),
                );
            }
        }
    }

    fn check_keys(&self, found: &mut Findings) {
        let mut charges: HashMap<(UserId, String), usize> = HashMap::new();
        for (user, wallet) in &self.wallets {
            for e in wallet.ledger.iter() {
                if e.kind != LedgerKind::Charge {
                    continue;
                }
                let key = e.reference.clone().unwrap_or_default();
                *charges.entry((*user, key.clone())).or_default() += 1;
                let named = self
                    .idempotency
                    .iter()
                    .find(|((u, k), _)| u == user && k.as_str() == key)
                    .and_then(|(_, record)| match &record.outcome {
                        Some(StoredOutcome::Charged(receipt)) => Some(receipt.transaction_id),
                        _ => None,
                    });
                if named != Some(e.id) {
                    found.add(
                        6,
                        "charge_has_its_record",
                        format!(
                            "charge {} of user {user} under key {key} is not its record's",
                            e.id
                        ),
                    );
                }
            }
        }
        for ((user, key), n) in charges {
            if n > 1 {
                found.add(
                    6,
                    "one_charge_per_key",
                    format!("user {user} key {key} moved money {n} times"),
                );
            }
        }
        let mut named: HashMap<PaymentId, usize> = HashMap::new();
        for record in self.idempotency.values() {
            if let Some(StoredOutcome::Paid(receipt)) = &record.outcome {
                *named.entry(receipt.payment_id).or_default() += 1;
            }
        }
        for id in self.payments.keys() {
            let n = named.get(id).copied().unwrap_or(0);
            if n != 1 {
                found.add(
                    6,
                    "payment_has_one_record",
                    format!("payment {id} is named by {n} stored outcomes"),
                );
            }
        }
    }

    /// Refunds: at most one per reservation, only of a paid reservation and after its payment,
    /// for exactly the amount paid, with one REFUND ledger entry of +amount and one stored
    /// outcome; a REFUNDED reservation has its refund and claims no seat.
    fn check_refunds(&self, found: &mut Findings) {
        let mut per_reservation: HashMap<ReservationId, usize> = HashMap::new();
        let mut entries: HashMap<String, Vec<i64>> = HashMap::new();
        for wallet in self.wallets.values() {
            for e in wallet
                .ledger
                .iter()
                .filter(|e| e.kind == LedgerKind::Refund)
            {
                let reference = e.reference.clone().unwrap_or_default();
                entries.entry(reference).or_default().push(e.amount);
            }
        }
        let mut named: HashMap<RefundId, usize> = HashMap::new();
        for record in self.idempotency.values() {
            if let Some(StoredOutcome::Refunded(receipt)) = &record.outcome {
                *named.entry(receipt.refund_id).or_default() += 1;
            }
        }
        for refund in self.refunds.values() {
            *per_reservation.entry(refund.reservation_id).or_default() += 1;
            let payment = self
                .payments
                .values()
                .find(|p| p.reservation_id == refund.reservation_id);
            match payment {
                None => found.add(
                    4,
                    "refund_after_payment",
                    format!(
                        "refund {} of reservation {} that was never paid",
                        refund.refund_id, refund.reservation_id
                    ),
                ),
                Some(p) if p.amount != refund.amount || refund.refunded_at < p.paid_at => {
                    found.add(
                        4,
                        "refund_matches_payment",
                        format!(
                            "refund {} of {} at {}: payment {} of {} at {}",
                            refund.refund_id,
                            refund.amount.won(),
                            refund.refunded_at,
                            p.payment_id,
                            p.amount.won(),
                            p.paid_at
                        ),
                    );
                }
                Some(_) => {}
            }
            let ledger = entries
                .get(&refund.refund_id.to_string())
                .cloned()
                .unwrap_or_default();
            if ledger != [refund.amount.won()] {
                found.add(
                    3,
                    "refund_in_ledger",
                    format!("refund {} has ledger entries {ledger:?}", refund.refund_id),
                );
            }
            let n = named.get(&refund.refund_id).copied().unwrap_or(0);
            if n != 1 {
                found.add(
                    6,
                    "refund_has_one_record",
                    format!(
                        "refund {} is named by {n} stored outcomes",
                        refund.refund_id
                    ),
                );
            }
        }
        for r in self.reservations.values() {
            let refunds = per_reservation.get(&r.id).copied().unwrap_or(0);
            if refunds > 1 {
                found.add(
                    4,
                    "refunded_at_most_once",
                    format!("reservation {} has {refunds} refunds", r.id),
                );
            }
            let is_refunded = r.status == ReservationStatus::Refunded;
            if (is_refunded && refunds != 1) || (!is_refunded && refunds > 0) {
                found.add(
                    4,
                    "refunded_iff_refund",
                    format!("{:?} reservation {} has {refunds} refunds", r.status, r.id),
                );
            }
            if is_refunded {
                let claimed: Vec<SeatId> = r
                    .seats
                    .iter()
                    .map(|line| line.seat_id)
                    .filter(|seat| self.seats.get(seat).and_then(|s| s.claim) == Some(r.id))
                    .collect();
                if !claimed.is_empty() {
                    found.add(
                        1,
                        "refunded_holds_no_seat",
                        format!("REFUNDED reservation {} still claims {claimed:?}", r.id),
                    );
                }
            }
        }
        let refund_refs: std::collections::HashSet<String> =
            self.refunds.keys().map(ToString::to_string).collect();
        for reference in entries.keys() {
            if !refund_refs.contains(reference) {
                found.add(
                    3,
                    "refund_entry_has_refund",
                    format!("REFUND ledger entry {reference} names no refund"),
                );
            }
        }
    }

    /// Every check, at `now`.
    pub(crate) fn check_invariants(&self, now: Timestamp, policy: &QueuePolicy) -> InvariantReport {
        let mut found = Findings::default();
        self.check_seats(now, &mut found);
        self.check_money(&mut found);
        self.check_payments(&mut found);
        self.check_refunds(&mut found);
        self.check_queues(now, policy, &mut found);
        self.check_keys(&mut found);
        for (check, detail) in self.check_waitlists(now) {
            found.add(7, check, detail);
        }
        InvariantReport {
            checked_at: now,
            violations: found.0,
        }
    }
}

impl MemoryStore {
    /// Checks every invariant of the API contract over the current state, in one critical
    /// section (see the module documentation for the list). `policy` supplies the queue defaults
    /// a concert falls back to (`max_active`, the idle timeout).
    #[must_use]
    pub fn check_invariants(&self, policy: QueuePolicy) -> InvariantReport {
        let (state, now) = self.state_at_now();
        state.check_invariants(now, &policy)
    }
}

#[cfg(test)]
mod tests {
    use crate::store::MemoryStore;
    use crate::time::tests::FixedClock;
    use domain::ports::{CatalogueStore, NewCharge, NewHold, NewPayment, QueueStore};
    use domain::ports::{ReservationStore, WalletStore};
    use domain::{
        ChargeAmount, ConcertTitle, IdempotencyContext, IdempotencyKey, LedgerEntry, LedgerKind,
        Money, NewConcert, NewSchedule, NewSeat, PaymentId, QueuePolicy, QueueTokenId,
        QueueTokenStatus, RequestFingerprint, Reservation, ReservationId, ReservationStatus,
        SeatGrade, SeatNumber, SeatSelection, TransactionId, UserId, Venue, WalletPolicy,
    };
    use std::sync::Arc;
    use std::time::Duration;
    use uuid::Uuid;

    fn queue() -> QueuePolicy {
        QueuePolicy::new(
            10,
            2,
            Duration::from_secs(1),
            Duration::from_secs(600),
            Duration::from_secs(300),
        )
        .expect("policy")
    }

    fn idem(key: &str) -> IdempotencyContext {
        IdempotencyContext {
            key: IdempotencyKey::new(key).expect("key"),
            fingerprint: RequestFingerprint::new(key),
        }
    }

    fn id() -> Uuid {
        Uuid::now_v7()
    }

    /// A store where user 1 charged 1000, held two seats and paid one of them (300), and
    /// user 2 holds the other.
    async fn busy_store() -> (MemoryStore, Reservation) {
        let clock = Arc::new(FixedClock::default());
        let store = MemoryStore::new(clock);
        let concert = store
            .create_concert(NewConcert {
                title: ConcertTitle::new("C").expect("title"),
                venue: Venue::new("V").expect("venue"),
                sale: domain::SaleWindow::ALWAYS_OPEN,
            })
            .await
            .expect("concert");
        let seats = (0..2)
            .map(|i| NewSeat {
                number: SeatNumber::new(format!("A{i}")).expect("number"),
                grade: SeatGrade::new("R").expect("grade"),
                price: Money::new(300).expect("price"),
            })
            .collect();
        let starts = chrono::DateTime::parse_from_rfc3339("2031-01-01T00:00:00Z")
            .expect("time")
            .with_timezone(&chrono::Utc);
        let schedule = store
            .create_schedule(
                concert.id,
                NewSchedule::new(starts, seats).expect("schedule"),
            )
            .await
            .expect("schedule");
        let user = UserId::new(1).expect("user");
        let user2 = UserId::new(2).expect("user");
        let token = QueueTokenId::from_uuid(id());
        let token2 = QueueTokenId::from_uuid(id());
        for (u, t) in [(user, token), (user2, token2)] {
            store.join(u, concert.id, t, queue()).await.expect("join");
        }
        store.admit(queue()).await.expect("admit");
        let hold = |user: UserId, queue_token, seat| NewHold {
            reservation_id: ReservationId::from_uuid(id()),
            user_id: user,
            schedule_id: schedule.schedule_id,
            seats: SeatSelection::new(vec![seat], 4).expect("seats"),
            queue_token,
        };
        let policy = domain::HoldPolicy::new(Duration::from_secs(60), 4, 4).expect("hold");
        let paid = store
            .hold(hold(user, token, schedule.seats[0].id), policy)
            .await
            .expect("hold");
        let other = store
            .hold(hold(user2, token2, schedule.seats[1].id), policy)
            .await
            .expect("hold");
        let wallet = WalletPolicy::new(
            Money::new(10_000).expect("max"),
            Money::new(100_000).expect("max"),
        )
        .expect("wallet");
        store
            .charge(
                NewCharge {
                    user_id: user,
                    transaction_id: TransactionId::from_uuid(id()),
                    amount: ChargeAmount::new(1000, Money::new(10_000).expect("max"))
                        .expect("amount"),
                    idempotency: idem("charge-1"),
                },
                wallet,
            )
            .await
            .expect("charge");
        store
            .pay(NewPayment {
                user_id: user,
                reservation_id: paid.id,
                queue_token: Some(token),
                payment_id: PaymentId::from_uuid(id()),
                transaction_id: TransactionId::from_uuid(id()),
                idempotency: idem("pay-1"),
            })
            .await
            .expect("pay");
        (store, other)
    }

    #[tokio::test]
    async fn a_consistent_store_passes() {
        // Arrange
        let (store, _) = busy_store().await;
        // Act
        let report = store.check_invariants(queue());
        // Assert
        assert!(report.is_clean(), "{:?}", report.violations);
    }

    #[tokio::test]
    async fn a_second_live_hold_on_a_seat_is_reported() {
        // Arrange
        let (store, other) = busy_store().await;
        {
            let mut state = store.state();
            let twin = Reservation {
                id: ReservationId::from_uuid(id()),
                ..other
            };
            state.reservations.insert(twin.id, twin);
        }
        // Act
        let report = store.check_invariants(queue());
        // Assert
        assert_eq!(report.broken(), vec![1], "{:?}", report.violations);
    }

    #[tokio::test]
    async fn a_seat_sold_twice_is_reported() {
        // Arrange: the paid reservation's seat is sold again to another reservation, which now
        // claims the seat.
        let (store, _) = busy_store().await;
        {
            let mut state = store.state();
            let sold = state
                .reservations
                .values()
                .find(|r| r.status == ReservationStatus::Confirmed)
                .cloned()
                .expect("a sale");
            let twin = Reservation {
                id: ReservationId::from_uuid(id()),
                ..sold
            };
            for line in &twin.seats {
                if let Some(seat) = state.seats.get_mut(&line.seat_id) {
                    seat.claim = Some(twin.id);
                }
            }
            state.reservations.insert(twin.id, twin);
        }
        // Act
        let report = store.check_invariants(queue());
        // Assert
        assert!(
            report
                .violations
                .iter()
                .any(|v| v.check == "seat_sold_once"),
            "{:?}",
            report.violations
        );
    }

    #[tokio::test]
    async fn money_out_of_thin_air_is_reported() {
        // Arrange
        let (store, _) = busy_store().await;
        {
            let mut state = store.state();
            let wallet = state
                .wallets
                .get_mut(&UserId::new(1).expect("user"))
                .expect("wallet");
            wallet.balance = Money::new(5_000).expect("money");
        }
        // Act
        let report = store.check_invariants(queue());
        // Assert
        assert_eq!(report.broken(), vec![2, 3], "{:?}", report.violations);
    }

    #[tokio::test]
    async fn a_second_payment_is_reported() {
        // Arrange
        let (store, _) = busy_store().await;
        {
            let mut state = store.state();
            let mut twin = state.payments.values().next().cloned().expect("payment");
            twin.payment_id = PaymentId::from_uuid(id());
            state.payments.insert(twin.payment_id, twin);
        }
        // Act
        let report = store.check_invariants(queue());
        // Assert: paid twice, without its ledger entry, its record, or the money.
        assert_eq!(report.broken(), vec![3, 4, 6], "{:?}", report.violations);
        assert!(report
            .violations
            .iter()
            .any(|v| v.check == "paid_at_most_once"));
    }

    #[tokio::test]
    async fn too_many_active_tokens_are_reported() {
        // Arrange: the cap is 2; three tokens are made ACTIVE by hand.
        let (store, _) = busy_store().await;
        {
            let mut state = store.state();
            let until = state
                .tokens
                .values()
                .find_map(|t| t.token.active_until)
                .expect("admitted");
            let template = state.tokens.values().next().cloned().expect("token");
            for n in 0..3 {
                let mut t = template.clone();
                t.token.id = QueueTokenId::from_uuid(id());
                t.token.seq = 10 + n;
                t.token.status = QueueTokenStatus::Active;
                t.token.active_until = Some(crate::time::plus(until, Duration::from_secs(1)));
                state.tokens.insert(t.token.id, t);
            }
        }
        // Act
        let report = store.check_invariants(queue());
        // Assert
        assert_eq!(report.broken(), vec![5], "{:?}", report.violations);
    }

    #[tokio::test]
    async fn a_key_that_charged_twice_is_reported() {
        // Arrange
        let (store, _) = busy_store().await;
        {
            let mut state = store.state();
            let user = UserId::new(1).expect("user");
            let wallet = state.wallets.get_mut(&user).expect("wallet");
            let first = wallet
                .ledger
                .iter()
                .find(|e| e.kind == LedgerKind::Charge)
                .cloned()
                .expect("charge");
            let again = LedgerEntry {
                id: TransactionId::from_uuid(id()),
                ..first
            };
            wallet.balance = wallet
                .balance
                .checked_add(Money::new(again.amount).expect("money"))
                .expect("sum");
            let again = LedgerEntry {
                balance_after: wallet.balance,
                ..again
            };
            wallet.places.insert(again.id, wallet.ledger.len());
            wallet.ledger.push(again);
        }
        // Act
        let report = store.check_invariants(queue());
        // Assert: balance and ledger agree, but the key moved money twice.
        assert_eq!(report.broken(), vec![6], "{:?}", report.violations);
    }

    #[tokio::test]
    async fn a_ledger_out_of_balance_order_is_reported() {
        // Arrange: two charges (+50, +20), each its key's record, whose balances say the +20
        // came first, listed +50 first; the balance is their sum, so only the order is wrong.
        // (These were bare refunds before refunds existed; a REFUND entry now needs its refund.)
        let (store, _) = busy_store().await;
        {
            let mut state = store.state();
            let user = UserId::new(1).expect("user");
            let mut records = Vec::new();
            let wallet = state.wallets.get_mut(&user).expect("wallet");
            let template = wallet.ledger.last().cloned().expect("an entry");
            for (amount, after) in [(50, 770), (20, 720)] {
                let key = format!("k{amount}");
                let entry = LedgerEntry {
                    id: TransactionId::from_uuid(id()),
                    kind: LedgerKind::Charge,
                    amount,
                    balance_after: Money::new(after).expect("money"),
                    reference: Some(key.clone()),
                    ..template.clone()
                };
                records.push((key, entry.clone()));
                wallet.places.insert(entry.id, wallet.ledger.len());
                wallet.ledger.push(entry);
            }
            wallet.balance = Money::new(770).expect("money");
            for (key, entry) in records {
                state.idempotency.insert(
                    (user, domain::IdempotencyKey::new(key).expect("key")),
                    domain::IdempotencyRecord {
                        fingerprint: domain::RequestFingerprint::new("f"),
                        outcome: Some(domain::StoredOutcome::Charged(domain::ChargeReceipt {
                            transaction_id: entry.id,
                            amount: Money::new(entry.amount).expect("money"),
                            balance: entry.balance_after,
                            created_at: entry.created_at,
                        })),
                    },
                );
            }
        }
        // Act
        let report = store.check_invariants(queue());
        // Assert
        assert_eq!(report.broken(), vec![2], "{:?}", report.violations);
        assert!(
            report
                .violations
                .iter()
                .all(|v| v.check == "ledger_running_sum"),
            "{:?}",
            report.violations
        );
    }
}
