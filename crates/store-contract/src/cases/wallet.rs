//! Wallet, payment, idempotency and ledger cases.

use crate::fixtures::{
    active_token, charge_ok, concert, default_holds, hold_ok, hold_policy, idem, ledger_in_pages,
    new_charge, new_payment, roomy_queue, schedule, seat_ids, statement_balance, token_status,
    user, wallet_policy,
};
use crate::StoreUnderTest;
use domain::{
    ChargeError, ChargeRejection, LedgerEntry, LedgerKind, PageRequest, PayError, PaymentRejection,
    QueueAccessError, QueueTokenStatus, ReservationStatus, StoredOutcome, UserId,
};
use std::time::Duration;

async fn balance(s: &StoreUnderTest, u: UserId) -> i64 {
    s.wallets.wallet(u).await.expect("wallet").balance.won()
}

async fn whole_ledger(s: &StoreUnderTest, u: UserId) -> Vec<LedgerEntry> {
    ledger_in_pages(&*s.wallets, u, 100).await
}

/// Charges respect the balance maximum; a key replays its first answer and moves money once.
pub async fn charge_limits_and_idempotent_replay(s: StoreUnderTest) {
    let policy = wallet_policy(1_000_000, 2_000_000);
    let u = user(1);
    let fresh = s.wallets.wallet(user(77)).await.expect("wallet");
    assert_eq!((fresh.user_id, fresh.balance.won()), (user(77), 0));

    let mut tasks = Vec::new();
    let template = new_charge(u, 500_000, "charge-1");
    for _ in 0..20 {
        let wallets = s.wallets.clone();
        let charge = template.clone();
        tasks.push(tokio::spawn(
            async move { wallets.charge(charge, policy).await },
        ));
    }
    let mut receipts = Vec::new();
    for task in tasks {
        receipts.push(task.await.expect("task").expect("charge"));
    }
    assert!(
        receipts.windows(2).all(|w| w[0] == w[1]),
        "every replay gets the same receipt"
    );
    let receipt = receipts[0].clone();
    assert_eq!(
        (receipt.amount.won(), receipt.balance.won()),
        (500_000, 500_000)
    );
    assert_eq!(receipt.transaction_id, template.transaction_id);
    // A replay with a fresh transaction id still answers the first receipt.
    let replay = s
        .wallets
        .charge(new_charge(u, 500_000, "charge-1"), policy)
        .await;
    assert_eq!(replay, Ok(receipt.clone()));
    assert_eq!(balance(&s, u).await, 500_000);
    assert_eq!(whole_ledger(&s, u).await.len(), 1, "money moved once");

    assert_eq!(
        s.wallets
            .charge(new_charge(u, 400_000, "charge-1"), policy)
            .await,
        Err(ChargeError::IdempotencyKeyReused)
    );
    assert_eq!(balance(&s, u).await, 500_000);
    let record = s
        .wallets
        .idempotency_record(u, idem("charge-1", "x").key)
        .await
        .expect("record")
        .expect("stored");
    assert_eq!(record.fingerprint, template.idempotency.fingerprint);
    assert_eq!(record.outcome, Some(StoredOutcome::Charged(receipt)));
    assert_eq!(
        s.wallets
            .idempotency_record(user(2), idem("charge-1", "x").key)
            .await,
        Ok(None),
        "keys are scoped to the user"
    );

    let second = s
        .wallets
        .charge(new_charge(u, 1_000_000, "charge-2"), policy)
        .await;
    assert_eq!(second.map(|r| r.balance.won()), Ok(1_500_000));
    assert_eq!(
        s.wallets
            .charge(new_charge(u, 600_000, "charge-3"), policy)
            .await,
        Err(ChargeError::BalanceLimitExceeded)
    );
    assert_eq!(balance(&s, u).await, 1_500_000, "nothing changed");
    let exact = s
        .wallets
        .charge(new_charge(u, 500_000, "charge-4"), policy)
        .await;
    assert_eq!(
        exact.map(|r| r.balance.won()),
        Ok(2_000_000),
        "the maximum itself is allowed"
    );
    // Another user may use the same key independently.
    let theirs = s
        .wallets
        .charge(new_charge(user(2), 10, "charge-1"), policy)
        .await;
    assert_eq!(theirs.map(|r| r.balance.won()), Ok(10));

    let ledger = whole_ledger(&s, u).await;
    assert_eq!(ledger.len(), 3);
    assert!(ledger
        .iter()
        .all(|e| e.kind == LedgerKind::Charge && e.user_id == u));
    let refs: Vec<Option<&str>> = ledger.iter().map(|e| e.reference.as_deref()).collect();
    assert_eq!(refs, [Some("charge-4"), Some("charge-2"), Some("charge-1")]);
}

/// A business rejection is stored: its replay is the same error even after the cause is gone.
pub async fn stored_rejections_replay_as_the_same_error(s: StoreUnderTest) {
    let u = user(1);
    let tight = wallet_policy(1000, 1000);
    charge_ok(&s, u, 900, "fill").await;
    assert_eq!(
        s.wallets.charge(new_charge(u, 200, "over"), tight).await,
        Err(ChargeError::BalanceLimitExceeded)
    );
    let record = s
        .wallets
        .idempotency_record(u, idem("over", "x").key)
        .await
        .expect("record");
    assert_eq!(
        record.and_then(|r| r.outcome),
        Some(StoredOutcome::ChargeRejected(
            ChargeRejection::BalanceLimitExceeded
        ))
    );
    // Even with a roomier policy the replay answers the stored rejection.
    assert_eq!(
        s.wallets
            .charge(new_charge(u, 200, "over"), wallet_policy(1000, 10_000))
            .await,
        Err(ChargeError::BalanceLimitExceeded)
    );
    assert_eq!(balance(&s, u).await, 900);

    let q = roomy_queue();
    let c = concert(&s, "Rejections").await;
    let sch = schedule(&s, c, 2, 5000).await;
    let r = hold_ok(&s, u, &sch, &seat_ids(&sch)[..1], default_holds()).await;
    let token = active_token(&s, u, c, q).await;
    let poor = new_payment(u, r.id, token, "pay-poor");
    assert_eq!(
        s.wallets.pay(poor.clone()).await,
        Err(PayError::InsufficientBalance)
    );
    let record = s
        .wallets
        .idempotency_record(u, idem("pay-poor", "x").key)
        .await
        .expect("record");
    assert_eq!(
        record.and_then(|r| r.outcome),
        Some(StoredOutcome::PaymentRejected(
            PaymentRejection::InsufficientBalance
        ))
    );
    charge_ok(&s, u, 10_000, "top-up").await;
    assert_eq!(
        s.wallets.pay(poor).await,
        Err(PayError::InsufficientBalance),
        "replayed"
    );
    assert_eq!(balance(&s, u).await, 10_900);
    let read = s
        .reservations
        .reservation(u, r.id)
        .await
        .expect("read")
        .expect("mine");
    assert_eq!(read.status, ReservationStatus::Held);
    assert_eq!(token_status(&s, token, q).await, QueueTokenStatus::Active);
    // A new key pays.
    let paid = s.wallets.pay(new_payment(u, r.id, token, "pay-rich")).await;
    assert_eq!(paid.map(|p| p.balance_after.won()), Ok(5_900));
}

/// Paying debits exactly the total, confirms, writes the ledger and expires the queue token;
/// a replay answers the receipt even after the token expired.
pub async fn pay_confirms_debits_and_expires_the_token(s: StoreUnderTest) {
    let u = user(1);
    let q = roomy_queue();
    let c = concert(&s, "Pay").await;
    let sch = schedule(&s, c, 4, 150_000).await;
    let ids = seat_ids(&sch);
    charge_ok(&s, u, 400_000, "wallet-fill").await;
    let r = hold_ok(&s, u, &sch, &ids[..2], default_holds()).await;
    let token = active_token(&s, u, c, q).await;
    let payment = new_payment(u, r.id, token, "pay-1");
    let receipt = s.wallets.pay(payment.clone()).await.expect("pay");
    assert_eq!(receipt.payment_id, payment.payment_id);
    assert_eq!(receipt.reservation_id, r.id);
    assert_eq!(
        (receipt.amount.won(), receipt.balance_after.won()),
        (300_000, 100_000)
    );
    assert_eq!(balance(&s, u).await, 100_000);

    let read = s
        .reservations
        .reservation(u, r.id)
        .await
        .expect("read")
        .expect("mine");
    assert_eq!(read.status, ReservationStatus::Confirmed);
    let seats_now = s
        .catalogue
        .schedule_seats(sch.schedule_id)
        .await
        .expect("seats");
    let taken: Vec<bool> = seats_now.seats.iter().map(|x| x.available).collect();
    assert_eq!(taken, [false, false, true, true]);
    assert_eq!(token_status(&s, token, q).await, QueueTokenStatus::Expired);

    let ledger = whole_ledger(&s, u).await;
    assert_eq!(ledger.len(), 2);
    let entry = &ledger[0];
    assert_eq!(entry.kind, LedgerKind::Payment);
    assert_eq!(entry.amount, -300_000);
    assert_eq!(entry.balance_after.won(), 100_000);
    assert_eq!(entry.id, payment.transaction_id);
    assert_eq!(
        entry.reference.as_deref(),
        Some(payment.payment_id.to_string().as_str())
    );

    // Replay: same receipt, nothing moves, even though the token is now expired.
    let again = new_payment(u, r.id, token, "pay-1");
    assert_eq!(s.wallets.pay(again).await, Ok(receipt.clone()));
    assert_eq!(balance(&s, u).await, 100_000);
    let mut other_request = new_payment(u, r.id, token, "pay-1");
    other_request.idempotency = idem("pay-1", "something else");
    assert_eq!(
        s.wallets.pay(other_request).await,
        Err(PayError::IdempotencyKeyReused)
    );
    let record = s
        .wallets
        .idempotency_record(u, idem("pay-1", "x").key)
        .await
        .expect("record");
    assert_eq!(
        record.and_then(|r| r.outcome),
        Some(StoredOutcome::Paid(receipt))
    );

    // Paying a confirmed reservation again is refused; so is cancelling it.
    let token2 = active_token(&s, u, c, q).await;
    assert_eq!(
        s.wallets.pay(new_payment(u, r.id, token2, "pay-2")).await,
        Err(PayError::NotPayable)
    );
    assert_eq!(
        s.reservations.cancel(u, r.id).await,
        Err(domain::CancelError::NotCancellable(
            ReservationStatus::Confirmed
        ))
    );
    assert_eq!(balance(&s, u).await, 100_000);
    assert_eq!(whole_ledger(&s, u).await.len(), 2);
}

/// A free seat (0 won) is payable by a user who never charged a wallet, with the same answer on
/// every store: confirmed, a PAYMENT entry of 0, balance 0.
pub async fn a_free_seat_is_paid_without_a_wallet(s: StoreUnderTest) {
    let u = user(7);
    let q = roomy_queue();
    let c = concert(&s, "Free").await;
    let sch = schedule(&s, c, 2, 0).await;
    let ids = seat_ids(&sch);
    let r = hold_ok(&s, u, &sch, &ids[..1], default_holds()).await;
    let token = active_token(&s, u, c, q).await;

    let receipt = s
        .wallets
        .pay(new_payment(u, r.id, token, "free"))
        .await
        .expect("a free seat is payable");

    assert_eq!((receipt.amount.won(), receipt.balance_after.won()), (0, 0));
    assert_eq!(balance(&s, u).await, 0);
    let read = s.reservations.reservation(u, r.id).await.expect("read");
    assert_eq!(read.map(|r| r.status), Some(ReservationStatus::Confirmed));
    let ledger = whole_ledger(&s, u).await;
    assert_eq!(ledger.len(), 1);
    assert_eq!((ledger[0].kind, ledger[0].amount), (LedgerKind::Payment, 0));
}

/// Only the holder's own reservation with the holder's ACTIVE token for that concert pays;
/// those refusals store nothing under the key.
pub async fn pay_requires_own_reservation_and_active_token(s: StoreUnderTest) {
    let (a, b) = (user(1), user(2));
    let q = roomy_queue();
    let c = concert(&s, "Access").await;
    let elsewhere = concert(&s, "Elsewhere").await;
    let sch = schedule(&s, c, 3, 1000).await;
    charge_ok(&s, a, 10_000, "fill-a").await;
    charge_ok(&s, b, 10_000, "fill-b").await;
    let r = hold_ok(&s, a, &sch, &seat_ids(&sch)[..1], default_holds()).await;
    let a_token = active_token(&s, a, c, q).await;
    let b_token = active_token(&s, b, c, q).await;
    let a_elsewhere = active_token(&s, a, elsewhere, q).await;

    assert_eq!(
        s.wallets.pay(new_payment(b, r.id, b_token, "k")).await,
        Err(PayError::ReservationNotFound)
    );
    let not_active = Err(PayError::Access(QueueAccessError::NotActive));
    assert_eq!(
        s.wallets.pay(new_payment(a, r.id, b_token, "k")).await,
        not_active
    );
    assert_eq!(
        s.wallets.pay(new_payment(a, r.id, a_elsewhere, "k")).await,
        not_active
    );
    let unknown = crate::fixtures::token_id();
    assert_eq!(
        s.wallets.pay(new_payment(a, r.id, unknown, "k")).await,
        not_active
    );
    s.queue.leave(a_token, a).await.expect("leave");
    assert_eq!(
        s.wallets.pay(new_payment(a, r.id, a_token, "k")).await,
        not_active
    );
    let waiting_policy =
        crate::fixtures::queue_policy(1, 1, Duration::from_secs(600), Duration::from_secs(600));
    let fresh = s
        .queue
        .join(a, c, crate::fixtures::token_id(), waiting_policy)
        .await
        .expect("join");
    assert_eq!(fresh.standing.token.status, QueueTokenStatus::Waiting);
    assert_eq!(
        s.wallets
            .pay(new_payment(a, r.id, fresh.standing.token.id, "k"))
            .await,
        not_active
    );

    for u in [a, b] {
        assert_eq!(
            s.wallets.idempotency_record(u, idem("k", "x").key).await,
            Ok(None),
            "refusals that are not business outcomes store nothing"
        );
    }
    assert_eq!(
        (balance(&s, a).await, balance(&s, b).await),
        (10_000, 10_000)
    );
    // The same key now works with the right token.
    s.queue
        .leave(fresh.standing.token.id, a)
        .await
        .expect("leave");
    let token = active_token(&s, a, c, q).await;
    let paid = s.wallets.pay(new_payment(a, r.id, token, "k")).await;
    assert_eq!(paid.map(|p| p.balance_after.won()), Ok(9_000));
}

/// 50 concurrent payments of 50 holds from a wallet that affords one: exactly one succeeds and
/// the balance never goes negative.
pub async fn concurrent_pays_from_a_wallet_affording_one(s: StoreUnderTest) {
    let u = user(1);
    let q = roomy_queue();
    let c = concert(&s, "Race To Pay").await;
    let sch = schedule(&s, c, 50, 1000).await;
    charge_ok(&s, u, 1500, "fill").await;
    let many = hold_policy(Duration::from_secs(300), 1, 50);
    let mut holds = Vec::new();
    for seat in seat_ids(&sch) {
        holds.push(hold_ok(&s, u, &sch, &[seat], many).await.id);
    }
    let token = active_token(&s, u, c, q).await;
    let mut tasks = Vec::new();
    for (i, id) in holds.iter().enumerate() {
        let wallets = s.wallets.clone();
        let payment = new_payment(u, *id, token, &format!("race-{i}"));
        tasks.push(tokio::spawn(async move { wallets.pay(payment).await }));
    }
    let mut ok = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(receipt) => {
                ok += 1;
                assert_eq!(receipt.balance_after.won(), 500);
            }
            Err(PayError::InsufficientBalance | PayError::Access(QueueAccessError::NotActive)) => {}
            Err(other) => panic!("unexpected payment error {other:?}"),
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(balance(&s, u).await, 500);
    let mut confirmed = 0;
    for id in &holds {
        let r = s
            .reservations
            .reservation(u, *id)
            .await
            .expect("read")
            .expect("mine");
        confirmed += usize::from(r.status == ReservationStatus::Confirmed);
    }
    assert_eq!(confirmed, 1);
    let ledger = whole_ledger(&s, u).await;
    assert_eq!(
        ledger
            .iter()
            .filter(|e| e.kind == LedgerKind::Payment)
            .count(),
        1
    );
    assert_eq!(ledger.iter().map(|e| e.amount).sum::<i64>(), 500);
}

/// Forty users pay at once with every kind of outcome mixed (paid, too poor, someone else's
/// reservation, someone else's token, a replay, a reused key): each gets exactly the answer it
/// would get alone, and money moves only for the paid ones.
pub async fn a_payment_storm_answers_each_as_alone(s: StoreUnderTest) {
    // Arrange
    let q = roomy_queue();
    let c = concert(&s, "Pay Storm").await;
    let sch = schedule(&s, c, 40, 1000).await;
    let seats = seat_ids(&sch);
    let mut holds = Vec::new();
    let mut tokens = Vec::new();
    for k in 0..40_i64 {
        let u = user(100 + k);
        charge_ok(
            &s,
            u,
            if k < 8 { 500 } else { 5000 },
            &format!("storm-fill-{k}"),
        )
        .await;
        let seat = seats[usize::try_from(k).expect("small")];
        holds.push(hold_ok(&s, u, &sch, &[seat], default_holds()).await.id);
        tokens.push(active_token(&s, u, c, q).await);
    }

    // Act: 0-7 too poor; 8-11 someone else's reservation; 12-15 someone else's token; 16-39
    // pay, and 16-19 also replay their own request, 20-23 reuse the key for another request.
    let mut tasks = Vec::new();
    for k in 0..40_usize {
        let u = user(100 + i64::try_from(k).expect("small"));
        let (reservation, token) = match k {
            8..=11 => (holds[k + 20], tokens[k]),
            12..=15 => (holds[k], tokens[k + 20]),
            _ => (holds[k], tokens[k]),
        };
        let payment = new_payment(u, reservation, token, &format!("storm-{k}"));
        let mut twins = vec![payment.clone()];
        if (16..20).contains(&k) {
            twins.push(payment.clone());
        }
        if (20..24).contains(&k) {
            twins.push(new_payment(u, holds[39], token, &format!("storm-{k}")));
        }
        for (twin, request) in twins.into_iter().enumerate() {
            let wallets = s.wallets.clone();
            tasks.push(tokio::spawn(async move {
                (k, twin, wallets.pay(request).await)
            }));
        }
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("task"));
    }

    // Assert
    let mut receipts = std::collections::HashMap::new();
    for (k, twin, answer) in answers {
        match (k, twin) {
            (0..=7, _) => assert_eq!(answer.err(), Some(PayError::InsufficientBalance), "{k}"),
            (8..=11, _) => assert_eq!(answer.err(), Some(PayError::ReservationNotFound), "{k}"),
            (12..=15, _) => assert_eq!(
                answer.err(),
                Some(PayError::Access(QueueAccessError::NotActive)),
                "{k}"
            ),
            // Reused once the first is stored; in use while it runs; not found if it ran first
            // (someone else's reservation: nothing is stored under the key).
            (20..=23, 1) => assert!(
                matches!(
                    answer,
                    Err(PayError::IdempotencyKeyReused
                        | PayError::IdempotencyKeyInUse
                        | PayError::ReservationNotFound)
                ),
                "{k}: {answer:?}"
            ),
            (16..=19, 1) => match answer {
                Ok(receipt) => {
                    receipts.entry(k).or_insert_with(Vec::new).push(receipt);
                }
                Err(e) => assert_eq!(e, PayError::IdempotencyKeyInUse, "{k}"),
            },
            _ => {
                let receipt = answer.unwrap_or_else(|e| panic!("{k} should pay: {e:?}"));
                assert_eq!(receipt.amount.won(), 1000);
                assert_eq!(receipt.balance_after.won(), 4000);
                receipts.entry(k).or_insert_with(Vec::new).push(receipt);
            }
        }
    }
    for (k, same) in &receipts {
        assert!(
            same.windows(2).all(|w| w[0] == w[1]),
            "replays of {k} differ"
        );
    }
    for k in 0..40_i64 {
        let u = user(100 + k);
        let expected = match k {
            0..=7 => 500,
            8..=15 => 5000,
            _ => 4000,
        };
        assert_eq!(balance(&s, u).await, expected, "balance of {k}");
        let ledger = whole_ledger(&s, u).await;
        assert_eq!(
            ledger.iter().map(|e| e.amount).sum::<i64>(),
            expected,
            "ledger of {k}"
        );
    }
}

/// The ledger sums to the balance, each entry's `balance_after` is the running sum, and it pages
/// newest first with a null cursor on the last page.
pub async fn ledger_sums_to_balance_and_pages(s: StoreUnderTest) {
    let u = user(1);
    let q = roomy_queue();
    for i in 1..=24 {
        charge_ok(&s, u, i * 100, &format!("ledger-{i}")).await;
    }
    let c = concert(&s, "Ledger").await;
    let sch = schedule(&s, c, 2, 7_000).await;
    let r = hold_ok(&s, u, &sch, &seat_ids(&sch)[..1], default_holds()).await;
    let token = active_token(&s, u, c, q).await;
    s.wallets
        .pay(new_payment(u, r.id, token, "ledger-pay"))
        .await
        .expect("pay");
    charge_ok(&s, u, 5, "ledger-last").await;

    let mut pages = Vec::new();
    let mut all: Vec<LedgerEntry> = Vec::new();
    let mut cursor = None;
    loop {
        let page = s
            .wallets
            .ledger(u, PageRequest::new(Some(10), cursor).expect("page"))
            .await
            .expect("ledger");
        pages.push(page.items.len());
        if let Some(c) = page.next_cursor {
            let tail = page.items.last().expect("full page");
            assert_eq!((c.created_at, c.id), (tail.created_at, tail.id.get()));
        }
        all.extend(page.items);
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
        assert!(pages.len() < 10, "paging terminates");
    }
    assert_eq!(pages, [10, 10, 6]);
    let ids: std::collections::HashSet<_> = all.iter().map(|e| e.id).collect();
    assert_eq!(ids.len(), all.len(), "each once");
    assert_eq!(all[0].reference.as_deref(), Some("ledger-last"));
    assert_eq!(all[1].kind, LedgerKind::Payment);
    let charges: Vec<_> = all[2..].iter().map(|e| e.reference.clone()).collect();
    let in_order: Vec<_> = (1..=24)
        .rev()
        .map(|i| Some(format!("ledger-{i}")))
        .collect();
    assert_eq!(
        charges, in_order,
        "newest first, in the order they happened"
    );

    let expected_balance: i64 = (1..=24).map(|i| i * 100).sum::<i64>() - 7_000 + 5;
    assert_eq!(balance(&s, u).await, expected_balance);
    assert_eq!(all.iter().map(|e| e.amount).sum::<i64>(), expected_balance);
    let mut running = 0;
    for entry in all.iter().rev() {
        running += entry.amount;
        assert_eq!(
            entry.balance_after.won(),
            running,
            "balance_after is the running sum"
        );
        assert!(running >= 0);
    }
    let none = s
        .wallets
        .ledger(user(2), PageRequest::new(None, None).expect("page"))
        .await
        .expect("ledger");
    assert!(none.items.is_empty() && none.next_cursor.is_none());
}

/// Charges and payments of several users at once: walking each wallet's ledger oldest to
/// newest (read in small pages), every `balance_after` is the running sum of the amounts and the
/// newest is the wallet's balance, whatever the clock says about the entries.
pub async fn concurrent_money_movements_read_like_a_statement(s: StoreUnderTest) {
    // Arrange: four users, each with 3000 won, a one-seat hold (1000) and an ACTIVE token in
    // each of three concerts (one live token per concert, and a payment spends it).
    let q = roomy_queue();
    let users: Vec<UserId> = (0..4).map(|k| user(300 + k)).collect();
    let mut concerts = Vec::new();
    for n in 0..3 {
        let c = concert(&s, &format!("Statement {n}")).await;
        concerts.push((c, schedule(&s, c, users.len(), 1000).await));
    }
    let mut payments = Vec::new();
    for (k, &u) in users.iter().enumerate() {
        charge_ok(&s, u, 3000, &format!("statement-fill-{k}")).await;
        for (n, (c, sch)) in concerts.iter().enumerate() {
            let seat = seat_ids(sch)[k];
            let held = hold_ok(&s, u, sch, &[seat], default_holds()).await;
            let token = active_token(&s, u, *c, q).await;
            payments.push(new_payment(
                u,
                held.id,
                token,
                &format!("statement-pay-{k}-{n}"),
            ));
        }
    }

    // Act: per user twelve charges of different amounts and three payments, all at once.
    let mut tasks = Vec::new();
    for (k, &u) in users.iter().enumerate() {
        for i in 1..=12_i64 {
            let wallets = s.wallets.clone();
            let charge = new_charge(u, i * 10 + 1, &format!("statement-charge-{k}-{i}"));
            tasks.push(tokio::spawn(async move {
                wallets
                    .charge(charge, wallet_policy(1_000_000, 1_000_000_000))
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("{e:?}"))
            }));
        }
    }
    for payment in payments {
        let wallets = s.wallets.clone();
        tasks.push(tokio::spawn(async move {
            wallets
                .pay(payment)
                .await
                .map(|_| ())
                .map_err(|e| format!("{e:?}"))
        }));
    }
    for task in tasks {
        task.await
            .expect("task")
            .expect("every charge and payment succeeds");
    }

    // Assert
    let charged: i64 = (1..=12).map(|i| i * 10 + 1).sum();
    for &u in &users {
        let ledger = ledger_in_pages(&*s.wallets, u, 4).await;
        assert_eq!(ledger.len(), 1 + 12 + 3, "entries of {u}");
        let running = statement_balance(u, &ledger);
        assert_eq!(running, 3000 + charged - 3000);
        assert_eq!(
            balance(&s, u).await,
            running,
            "{u}: the newest is the balance"
        );
    }
}
