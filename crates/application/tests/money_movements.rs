//! Charges and payments: replay before any check, validation stores nothing, the gate guards
//! payments.

mod common;

use common::*;
use domain::*;

fn receipt() -> ChargeReceipt {
    ChargeReceipt {
        transaction_id: TransactionId::from_uuid(uuid::Uuid::from_u128(77)),
        amount: money(5_000),
        balance: money(5_000),
        created_at: now(),
    }
}

fn payment_receipt() -> PaymentReceipt {
    PaymentReceipt {
        payment_id: PaymentId::from_uuid(uuid::Uuid::from_u128(88)),
        reservation_id: reservation_id(1),
        amount: money(50_000),
        balance_after: money(0),
        paid_at: now(),
    }
}

fn stored(fingerprint: &str, outcome: Option<StoredOutcome>) -> Option<IdempotencyRecord> {
    Some(IdempotencyRecord {
        fingerprint: RequestFingerprint::new(fingerprint),
        outcome,
    })
}

#[tokio::test]
async fn a_replayed_charge_returns_the_stored_receipt_without_charging() {
    let mut mocks = Mocks::default();
    mocks
        .wallets
        .expect_idempotency_record()
        .returning(|_, _| Ok(stored("fp", Some(StoredOutcome::Charged(receipt())))));
    mocks.wallets.expect_charge().never();
    let services = mocks.build();
    // Even an amount that would now be invalid replays: the record is consulted first.
    let result = services.charge(user(1), idem("k1", "fp"), 0).await;
    assert_eq!(result.map(|r| (r.value, r.replayed)), Ok((receipt(), true)));
}

#[tokio::test]
async fn a_key_reused_with_another_request_is_refused() {
    let mut mocks = Mocks::default();
    mocks
        .wallets
        .expect_idempotency_record()
        .returning(|_, _| Ok(stored("other", Some(StoredOutcome::Charged(receipt())))));
    let services = mocks.build();
    assert_eq!(
        services.charge(user(1), idem("k1", "fp"), 10).await,
        Err(ChargeError::IdempotencyKeyReused)
    );
}

#[tokio::test]
async fn a_key_still_running_is_in_use() {
    let mut mocks = Mocks::default();
    mocks
        .wallets
        .expect_idempotency_record()
        .returning(|_, _| Ok(stored("fp", None)));
    let services = mocks.build();
    assert_eq!(
        services.charge(user(1), idem("k1", "fp"), 10).await,
        Err(ChargeError::IdempotencyKeyInUse)
    );
}

#[tokio::test]
async fn a_stored_rejection_replays_as_the_same_error() {
    let mut mocks = Mocks::default();
    mocks.wallets.expect_idempotency_record().returning(|_, _| {
        Ok(stored(
            "fp",
            Some(StoredOutcome::ChargeRejected(
                ChargeRejection::BalanceLimitExceeded,
            )),
        ))
    });
    mocks.wallets.expect_charge().never();
    let services = mocks.build();
    assert_eq!(
        services.charge(user(1), idem("k1", "fp"), 10).await,
        Err(ChargeError::BalanceLimitExceeded)
    );
}

#[tokio::test]
async fn an_invalid_amount_is_refused_and_nothing_is_stored() {
    for amount in [0, -1, 1_000_001] {
        let mut mocks = Mocks::default();
        mocks
            .wallets
            .expect_idempotency_record()
            .returning(|_, _| Ok(None));
        mocks.wallets.expect_charge().never();
        let services = mocks.build();
        let result = services.charge(user(1), idem("k1", "fp"), amount).await;
        assert_eq!(
            result,
            Err(ChargeError::InvalidAmount(InvalidChargeAmount {
                max: domain::DEFAULT_CHARGE_MAX.won()
            })),
            "amount {amount}"
        );
    }
}

#[tokio::test]
async fn a_fresh_charge_runs_once_under_its_key() {
    let mut mocks = Mocks::default();
    mocks
        .wallets
        .expect_idempotency_record()
        .returning(|_, _| Ok(None));
    mocks
        .wallets
        .expect_charge()
        .times(1)
        .withf(|c, _| c.amount.money() == money(5_000) && c.idempotency.key.as_str() == "k1")
        .returning(|c, _| {
            Ok(ChargeReceipt {
                transaction_id: c.transaction_id,
                ..receipt()
            })
        });
    let services = mocks.build();
    let result = services.charge(user(1), idem("k1", "fp"), 5_000).await;
    assert_eq!(result.map(|r| r.replayed), Ok(false));
}

#[tokio::test]
async fn a_charge_the_store_answers_with_its_twins_receipt_is_a_replay() {
    // Arrange: no record yet when asked, but a twin under the key commits first and the store
    // answers this request with the twin's receipt (it waited for the twin's key lock).
    let mut mocks = Mocks::default();
    mocks
        .wallets
        .expect_idempotency_record()
        .returning(|_, _| Ok(None));
    mocks
        .wallets
        .expect_charge()
        .times(1)
        .returning(|_, _| Ok(receipt()));
    let services = mocks.build();
    // Act
    let result = services.charge(user(1), idem("k1", "fp"), 5_000).await;
    // Assert
    assert_eq!(result.map(|r| (r.value, r.replayed)), Ok((receipt(), true)));
}

#[tokio::test]
async fn a_payment_replay_is_answered_before_the_queue_token_is_checked() {
    let mut mocks = Mocks::default();
    mocks
        .wallets
        .expect_idempotency_record()
        .returning(|_, _| Ok(stored("fp", Some(StoredOutcome::Paid(payment_receipt())))));
    mocks.queue.expect_token().never();
    mocks.wallets.expect_pay().never();
    let services = mocks.build();
    // No queue token at all: the payment expired it, yet the replay still answers.
    let result = services
        .pay(user(1), None, idem("k1", "fp"), reservation_id(1))
        .await;
    assert_eq!(
        result.map(|r| (r.value, r.replayed)),
        Ok((payment_receipt(), true))
    );
}

#[tokio::test]
async fn stored_payment_rejections_replay_as_errors() {
    for (rejection, expected) in [
        (PaymentRejection::NotPayable, PayError::NotPayable),
        (
            PaymentRejection::InsufficientBalance,
            PayError::InsufficientBalance,
        ),
    ] {
        let mut mocks = Mocks::default();
        mocks
            .wallets
            .expect_idempotency_record()
            .returning(move |_, _| {
                Ok(stored(
                    "fp",
                    Some(StoredOutcome::PaymentRejected(rejection)),
                ))
            });
        let services = mocks.build();
        let result = services
            .pay(
                user(1),
                Some(token_id(1)),
                idem("k1", "fp"),
                reservation_id(1),
            )
            .await;
        assert_eq!(result, Err(expected));
    }
}

#[tokio::test]
async fn paying_without_a_queue_token_is_token_required() {
    let mut mocks = Mocks::default();
    mocks
        .wallets
        .expect_idempotency_record()
        .returning(|_, _| Ok(None));
    // Without a token the store decides (only a live waiting-list offer needs none).
    mocks
        .wallets
        .expect_pay()
        .withf(|p| p.queue_token.is_none())
        .returning(|_| Err(PayError::Access(QueueAccessError::TokenRequired)));
    let services = mocks.build();
    let result = services
        .pay(user(1), None, idem("k1", "fp"), reservation_id(1))
        .await;
    assert_eq!(
        result,
        Err(PayError::Access(QueueAccessError::TokenRequired))
    );
}

#[tokio::test]
async fn paying_for_someone_elses_reservation_is_not_found() {
    let mut mocks = Mocks::default();
    mocks
        .wallets
        .expect_idempotency_record()
        .returning(|_, _| Ok(None));
    mocks
        .reservations
        .expect_reservation()
        .returning(|_, _| Ok(None));
    // The token is looked up at the same time; a missing reservation decides first.
    caller_token(&mut mocks, concert(1), QueueTokenStatus::Active);
    mocks.wallets.expect_pay().never();
    let services = mocks.build();
    let result = services
        .pay(
            user(2),
            Some(token_id(1)),
            idem("k1", "fp"),
            reservation_id(1),
        )
        .await;
    assert_eq!(result, Err(PayError::ReservationNotFound));
}

#[tokio::test]
async fn paying_with_a_token_for_another_concert_moves_nothing() {
    let mut mocks = Mocks::default();
    arrange_fresh_payment(&mut mocks);
    caller_token(&mut mocks, concert(2), QueueTokenStatus::Active);
    mocks.wallets.expect_pay().never();
    let services = mocks.build();
    let result = pay_reservation_one(&services).await;
    assert_eq!(result, Err(PayError::Access(QueueAccessError::NotActive)));
}

#[tokio::test]
async fn a_valid_payment_reaches_the_store_with_the_token_and_key() {
    let mut mocks = Mocks::default();
    arrange_fresh_payment(&mut mocks);
    caller_token(&mut mocks, concert(1), QueueTokenStatus::Active);
    mocks
        .wallets
        .expect_pay()
        .times(1)
        .withf(|p| {
            p.queue_token == Some(token_id(1))
                && p.reservation_id == reservation_id(1)
                && p.idempotency.key.as_str() == "k1"
        })
        .returning(|p| {
            Ok(PaymentReceipt {
                payment_id: p.payment_id,
                ..payment_receipt()
            })
        });
    let services = mocks.build();
    let result = pay_reservation_one(&services).await;
    assert_eq!(result.map(|r| r.replayed), Ok(false));
}

#[tokio::test]
async fn a_payment_the_store_answers_with_its_twins_receipt_is_a_replay() {
    // Arrange: the gate lets it through, then the store answers from a twin's record (found
    // under the key inside a payment batch, or after waiting for the twin's key lock).
    let mut mocks = Mocks::default();
    arrange_fresh_payment(&mut mocks);
    caller_token(&mut mocks, concert(1), QueueTokenStatus::Active);
    mocks
        .wallets
        .expect_pay()
        .times(1)
        .returning(|_| Ok(payment_receipt()));
    let services = mocks.build();
    // Act
    let result = pay_reservation_one(&services).await;
    // Assert
    assert_eq!(
        result.map(|r| (r.value, r.replayed)),
        Ok((payment_receipt(), true))
    );
}

#[tokio::test]
async fn the_stores_insufficient_balance_reaches_the_caller() {
    let mut mocks = Mocks::default();
    arrange_fresh_payment(&mut mocks);
    caller_token(&mut mocks, concert(1), QueueTokenStatus::Active);
    mocks
        .wallets
        .expect_pay()
        .returning(|_| Err(PayError::InsufficientBalance));
    let services = mocks.build();
    let result = pay_reservation_one(&services).await;
    assert_eq!(result, Err(PayError::InsufficientBalance));
}

#[tokio::test]
async fn a_twin_that_committed_meanwhile_is_replayed_instead_of_refused_by_the_gate() {
    // Arrange: no record at first; by the time the gate refuses (the twin spent the token), the
    // twin's answer is stored.
    let mut mocks = Mocks::default();
    let lookups = std::sync::atomic::AtomicUsize::new(0);
    mocks
        .wallets
        .expect_idempotency_record()
        .returning(move |_, _| {
            if lookups.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                Ok(None)
            } else {
                Ok(stored("fp", Some(StoredOutcome::Paid(payment_receipt()))))
            }
        });
    mocks
        .reservations
        .expect_reservation()
        .returning(|u, id| Ok(Some(reservation(id, u, concert(1)))));
    caller_token(&mut mocks, concert(1), QueueTokenStatus::Expired);
    mocks.wallets.expect_pay().never();
    let services = mocks.build();
    // Act
    let result = pay_reservation_one(&services).await;
    // Assert
    assert_eq!(
        result.map(|r| (r.value, r.replayed)),
        Ok((payment_receipt(), true))
    );
}
