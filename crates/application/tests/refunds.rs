//! Refunds: replay before any check, no queue gate, the store's answer passed through, a twin's
//! receipt marked as a replay.

mod common;

use common::*;
use domain::*;

fn refund_receipt(id: u128) -> RefundReceipt {
    RefundReceipt {
        refund_id: RefundId::from_uuid(uuid::Uuid::from_u128(id)),
        reservation_id: reservation_id(1),
        amount: money(50_000),
        balance_after: money(50_000),
        refunded_at: now(),
    }
}

fn stored(fingerprint: &str, outcome: Option<StoredOutcome>) -> Option<IdempotencyRecord> {
    Some(IdempotencyRecord {
        fingerprint: RequestFingerprint::new(fingerprint),
        outcome,
    })
}

#[tokio::test]
async fn a_replayed_refund_answers_the_stored_receipt_without_refunding() {
    let mut mocks = Mocks::default();
    mocks.wallets.expect_idempotency_record().returning(|_, _| {
        Ok(stored(
            "fp",
            Some(StoredOutcome::Refunded(refund_receipt(9))),
        ))
    });
    mocks.wallets.expect_refund().never();
    let services = mocks.build();
    let result = services
        .refund(user(1), idem("k", "fp"), reservation_id(1))
        .await;
    assert_eq!(
        result.map(|r| (r.value, r.replayed)),
        Ok((refund_receipt(9), true))
    );
}

#[tokio::test]
async fn a_stored_refusal_reuse_and_in_flight_key_answer_without_the_store() {
    for (record, expected) in [
        (
            stored(
                "fp",
                Some(StoredOutcome::RefundRejected(RefundRejection::WindowClosed)),
            ),
            RefundError::WindowClosed,
        ),
        (
            stored(
                "fp",
                Some(StoredOutcome::RefundRejected(
                    RefundRejection::NotRefundable,
                )),
            ),
            RefundError::NotRefundable,
        ),
        (
            stored("other", Some(StoredOutcome::Refunded(refund_receipt(9)))),
            RefundError::IdempotencyKeyReused,
        ),
        (
            stored(
                "fp",
                Some(StoredOutcome::PaymentRejected(PaymentRejection::NotPayable)),
            ),
            RefundError::IdempotencyKeyReused,
        ),
        (stored("fp", None), RefundError::IdempotencyKeyInUse),
    ] {
        let mut mocks = Mocks::default();
        mocks
            .wallets
            .expect_idempotency_record()
            .returning(move |_, _| Ok(record.clone()));
        mocks.wallets.expect_refund().never();
        let services = mocks.build();
        assert_eq!(
            services
                .refund(user(1), idem("k", "fp"), reservation_id(1))
                .await
                .map(|r| r.value),
            Err(expected)
        );
    }
}

#[tokio::test]
async fn a_fresh_refund_runs_once_in_the_store_with_the_configured_cutoff() {
    let mut mocks = Mocks::default();
    mocks
        .wallets
        .expect_idempotency_record()
        .returning(|_, _| Ok(None));
    mocks
        .wallets
        .expect_refund()
        .times(1)
        .withf(|r, policy| {
            r.user_id == user(1)
                && r.reservation_id == reservation_id(1)
                && *policy == RefundPolicy::default()
        })
        .returning(|r, _| {
            Ok(RefundReceipt {
                refund_id: r.refund_id,
                ..refund_receipt(0)
            })
        });
    // The seats it freed go to the date's waiting list right after.
    let refunded = reservation(reservation_id(1), user(1), concert(1));
    let refunded_schedule = refunded.schedule_id;
    mocks
        .reservations
        .expect_reservation()
        .withf(|u, id| *u == user(1) && *id == reservation_id(1))
        .times(1)
        .returning(move |_, _| Ok(Some(refunded.clone())));
    mocks
        .waitlist
        .expect_offer_waitlist_seats()
        .withf(move |s, _| *s == Some(refunded_schedule))
        .times(1)
        .returning(|_, _| Ok(1));
    let services = mocks.build();
    let done = services
        .refund(user(1), idem("k", "fp"), reservation_id(1))
        .await
        .expect("refunded");
    assert!(!done.replayed);
}

#[tokio::test]
async fn a_twins_receipt_from_the_store_is_a_replay() {
    let mut mocks = Mocks::default();
    mocks
        .wallets
        .expect_idempotency_record()
        .returning(|_, _| Ok(None));
    mocks
        .wallets
        .expect_refund()
        .returning(|_, _| Ok(refund_receipt(12_345)));
    let services = mocks.build();
    let done = services
        .refund(user(1), idem("k", "fp"), reservation_id(1))
        .await
        .expect("answered");
    assert!(done.replayed);
}
