//! Waiting lists for sold-out dates (docs/api.md, v1.1): joins only when sold out, one live entry per
//! user and date, offers in list order when a seat comes back (cancel, hold expiry, leave),
//! seats kept for the list meanwhile, offers that lapse and pass on, offers paid without a
//! queue token.

use crate::fixtures::*;
use crate::StoreUnderTest;
use domain::ports::NewPayment;
use domain::{
    HoldSeatsError, JoinWaitlistError, PageRequest, PayError, PaymentId, QueueAccessError,
    ReservationStatus, ScheduleId, ScheduleSeats, SeatId, TransactionId, UserId, WaitlistCounts,
    WaitlistEntry, WaitlistEntryError, WaitlistEntryId, WaitlistPolicy, WaitlistStatus,
};
use std::time::Duration;
use uuid::Uuid;

fn entry_id() -> WaitlistEntryId {
    WaitlistEntryId::from_uuid(Uuid::now_v7())
}

/// Offers held for 10 minutes.
fn long_offers() -> WaitlistPolicy {
    WaitlistPolicy::new(Duration::from_secs(600)).expect("valid")
}

async fn join(s: &StoreUnderTest, u: UserId, schedule: ScheduleId) -> WaitlistEntry {
    s.waitlist
        .join_waitlist(u, schedule, entry_id())
        .await
        .expect("join")
        .entry
}

async fn entry(s: &StoreUnderTest, u: UserId, id: WaitlistEntryId) -> WaitlistEntry {
    s.waitlist
        .waitlist_entry(u, id)
        .await
        .expect("read")
        .expect("own entry")
}

async fn offer(s: &StoreUnderTest, schedule: ScheduleId, policy: WaitlistPolicy) -> u64 {
    s.waitlist
        .offer_waitlist_seats(Some(schedule), policy)
        .await
        .expect("offer step")
}

async fn listed_available(s: &StoreUnderTest, sch: &ScheduleSeats, seat: SeatId) -> bool {
    s.catalogue
        .schedule_seats(sch.schedule_id)
        .await
        .expect("seats")
        .seats
        .into_iter()
        .find(|x| x.id == seat)
        .expect("seat of the schedule")
        .available
}

/// A join is refused while the date has a seat the caller could hold (`SeatsAvailable`); once
/// sold out it makes a WAITING entry, and a second join returns the same live entry.
pub async fn waitlist_join_only_when_sold_out(s: StoreUnderTest) {
    let c = concert(&s, "Sold Out").await;
    let sch = schedule(&s, c, 1, 1000).await;
    let ids = seat_ids(&sch);
    assert_eq!(
        s.waitlist
            .join_waitlist(user(2), sch.schedule_id, entry_id())
            .await
            .map(|j| j.created),
        Err(JoinWaitlistError::SeatsAvailable)
    );
    hold_ok(&s, user(1), &sch, &ids, default_holds()).await;
    let first = s
        .waitlist
        .join_waitlist(user(2), sch.schedule_id, entry_id())
        .await
        .expect("join");
    assert!(first.created);
    assert_eq!(first.entry.status, WaitlistStatus::Waiting);
    assert_eq!(first.entry.position, Some(1));
    assert_eq!(first.entry.offer, None);
    let again = s
        .waitlist
        .join_waitlist(user(2), sch.schedule_id, entry_id())
        .await
        .expect("join again");
    assert!(!again.created, "one live entry per user and date");
    assert_eq!(again.entry.id, first.entry.id);
    let second = join(&s, user(3), sch.schedule_id).await;
    assert_eq!(second.position, Some(2));
    assert_eq!(
        s.waitlist
            .join_waitlist(
                user(2),
                ScheduleId::new(999_999).expect("positive"),
                entry_id()
            )
            .await
            .map(|j| j.created),
        Err(JoinWaitlistError::ScheduleNotFound)
    );
}

/// Seats that come back while the date has WAITING entries are kept for the list (no ordinary
/// hold, listed unavailable) until the offer step gives them, lowest seat first, to the
/// earliest entries; positions count the entries still WAITING.
pub async fn waitlist_offers_in_order_and_keeps_seats_for_the_list(s: StoreUnderTest) {
    let c = concert(&s, "Offers In Order").await;
    let sch = schedule(&s, c, 2, 1000).await;
    let ids = seat_ids(&sch);
    let a = hold_ok(&s, user(1), &sch, &ids[..1], default_holds()).await;
    let b = hold_ok(&s, user(1), &sch, &ids[1..], default_holds()).await;
    let e2 = join(&s, user(2), sch.schedule_id).await;
    let e3 = join(&s, user(3), sch.schedule_id).await;
    s.reservations.cancel(user(1), a.id).await.expect("cancel");
    // Kept for the list: another user cannot hold it, and it is listed unavailable.
    let grab = admitted_hold(&s, user(4), &sch, &ids[..1]).await;
    assert_eq!(
        s.reservations
            .hold(grab, default_holds())
            .await
            .map(|r| r.id),
        Err(HoldSeatsError::SeatUnavailable {
            seats: vec![ids[0]]
        })
    );
    assert!(!listed_available(&s, &sch, ids[0]).await);
    assert_eq!(offer(&s, sch.schedule_id, long_offers()).await, 1);
    let offered = entry(&s, user(2), e2.id).await;
    assert_eq!(offered.status, WaitlistStatus::Offered);
    assert_eq!(offered.position, None);
    let o = offered.offer.expect("an offer");
    assert_eq!(o.seat_id, ids[0]);
    let held = s
        .reservations
        .reservation(user(2), o.reservation_id)
        .await
        .expect("read")
        .expect("the offer is the user's reservation");
    assert_eq!(held.status, ReservationStatus::Held);
    assert_eq!(held.held_until, o.held_until);
    let listed = s
        .reservations
        .reservations(user(2), PageRequest::new(None, None).expect("page"))
        .await
        .expect("list");
    assert_eq!(listed.items.first().map(|r| r.id), Some(o.reservation_id));
    let waiting = entry(&s, user(3), e3.id).await;
    assert_eq!(
        (waiting.status, waiting.position),
        (WaitlistStatus::Waiting, Some(1))
    );
    // Nothing more to offer.
    assert_eq!(offer(&s, sch.schedule_id, long_offers()).await, 0);
    s.reservations.cancel(user(1), b.id).await.expect("cancel");
    assert_eq!(
        s.waitlist
            .offer_waitlist_seats(None, long_offers())
            .await
            .expect("offer step over every date"),
        1
    );
    let third = entry(&s, user(3), e3.id).await;
    assert_eq!(third.status, WaitlistStatus::Offered);
    assert_eq!(third.offer.map(|o| o.seat_id), Some(ids[1]));
}

/// A hold that lapses brings its seat back (kept for the list at once, by the store's clock);
/// the offer lapses in turn (EXPIRED at once, without a sweep) and the seat goes to the next
/// WAITING entry.
pub async fn waitlist_offer_on_hold_expiry_lapses_and_passes_on(s: StoreUnderTest) {
    let c = concert(&s, "Lapses").await;
    let sch = schedule(&s, c, 1, 1000).await;
    let ids = seat_ids(&sch);
    let short = hold_policy(Duration::from_millis(800), 4, 4);
    hold_ok(&s, user(1), &sch, &ids, short).await;
    let e2 = join(&s, user(2), sch.schedule_id).await;
    let e3 = join(&s, user(3), sch.schedule_id).await;
    s.wait(Duration::from_millis(1000)).await;
    let grab = admitted_hold(&s, user(4), &sch, &ids).await;
    assert!(
        matches!(
            s.reservations.hold(grab, default_holds()).await,
            Err(HoldSeatsError::SeatUnavailable { .. })
        ),
        "a lapsed hold's seat is kept for the list"
    );
    let short_offers = WaitlistPolicy::new(Duration::from_secs(1)).expect("valid");
    assert_eq!(offer(&s, sch.schedule_id, short_offers).await, 1);
    assert_eq!(
        entry(&s, user(2), e2.id).await.status,
        WaitlistStatus::Offered
    );
    s.wait(Duration::from_millis(1200)).await;
    let lapsed = entry(&s, user(2), e2.id).await;
    assert_eq!(
        lapsed.status,
        WaitlistStatus::Expired,
        "at once, by the clock"
    );
    assert_eq!(lapsed.offer, None);
    assert_eq!(offer(&s, sch.schedule_id, long_offers()).await, 1);
    let next = entry(&s, user(3), e3.id).await;
    assert_eq!(next.status, WaitlistStatus::Offered);
    assert_eq!(next.offer.map(|o| o.seat_id), Some(ids[0]));
    assert_eq!(
        entry(&s, user(2), e2.id).await.status,
        WaitlistStatus::Expired
    );
    // The lapsed user may join again, at the back.
    let back = join(&s, user(2), sch.schedule_id).await;
    assert_ne!(back.id, e2.id);
    assert_eq!(back.position, Some(1));
}

/// An offered reservation is paid like any other but without a queue token, and the entry
/// becomes FULFILLED in the same step; any other reservation still needs a token.
pub async fn waitlist_paying_an_offer_needs_no_token_and_fulfils(s: StoreUnderTest) {
    let c = concert(&s, "Pay Offer").await;
    let sch = schedule(&s, c, 2, 700).await;
    let ids = seat_ids(&sch);
    let a = hold_ok(&s, user(1), &sch, &ids[..1], default_holds()).await;
    let other = hold_ok(&s, user(2), &sch, &ids[1..], default_holds()).await;
    let e2 = join(&s, user(2), sch.schedule_id).await;
    s.reservations.cancel(user(1), a.id).await.expect("cancel");
    offer(&s, sch.schedule_id, long_offers()).await;
    let o = entry(&s, user(2), e2.id).await.offer.expect("offered");
    charge_ok(&s, user(2), 5000, "charge").await;
    let tokenless = |reservation| NewPayment {
        user_id: user(2),
        reservation_id: reservation,
        queue_token: None,
        payment_id: PaymentId::from_uuid(Uuid::now_v7()),
        transaction_id: TransactionId::from_uuid(Uuid::now_v7()),
        idempotency: idem(&format!("pay-{reservation}"), &format!("pay:{reservation}")),
    };
    assert_eq!(
        s.wallets.pay(tokenless(other.id)).await.map(|r| r.amount),
        Err(PayError::Access(QueueAccessError::TokenRequired))
    );
    let receipt = s
        .wallets
        .pay(tokenless(o.reservation_id))
        .await
        .expect("pay");
    assert_eq!(receipt.amount, won(700));
    let done = entry(&s, user(2), e2.id).await;
    assert_eq!(done.status, WaitlistStatus::Fulfilled);
    assert_eq!(done.offer, None);
    let paid = s
        .reservations
        .reservation(user(2), o.reservation_id)
        .await
        .expect("read")
        .expect("mine");
    assert_eq!(paid.status, ReservationStatus::Confirmed);
}

/// Leaving releases a live offer with the entry (LEFT), and the seat goes to the next WAITING
/// entry in the same step; another user's entry is not found; leaving twice changes nothing.
/// Cancelling an offered reservation makes its entry LEFT at once, and the offer step passes
/// the seat on.
pub async fn waitlist_leave_releases_the_offer_to_the_next(s: StoreUnderTest) {
    let c = concert(&s, "Leave").await;
    let sch = schedule(&s, c, 1, 1000).await;
    let ids = seat_ids(&sch);
    let a = hold_ok(&s, user(1), &sch, &ids, default_holds()).await;
    let e2 = join(&s, user(2), sch.schedule_id).await;
    let e3 = join(&s, user(3), sch.schedule_id).await;
    let e4 = join(&s, user(4), sch.schedule_id).await;
    s.reservations.cancel(user(1), a.id).await.expect("cancel");
    offer(&s, sch.schedule_id, long_offers()).await;
    let o = entry(&s, user(2), e2.id).await.offer.expect("offered");
    assert_eq!(
        s.waitlist
            .leave_waitlist(user(3), e2.id, long_offers())
            .await,
        Err(WaitlistEntryError::NotFound)
    );
    assert_eq!(s.waitlist.waitlist_entry(user(3), e2.id).await, Ok(None));
    s.waitlist
        .leave_waitlist(user(2), e2.id, long_offers())
        .await
        .expect("leave");
    assert_eq!(entry(&s, user(2), e2.id).await.status, WaitlistStatus::Left);
    let released = s
        .reservations
        .reservation(user(2), o.reservation_id)
        .await
        .expect("read")
        .expect("mine");
    assert_eq!(released.status, ReservationStatus::Cancelled);
    let next = entry(&s, user(3), e3.id).await;
    assert_eq!(next.status, WaitlistStatus::Offered, "passed on at once");
    assert_eq!(next.offer.map(|o| o.seat_id), Some(ids[0]));
    s.waitlist
        .leave_waitlist(user(2), e2.id, long_offers())
        .await
        .expect("leave again");
    assert_eq!(entry(&s, user(2), e2.id).await.status, WaitlistStatus::Left);
    let third = next.offer.expect("offered").reservation_id;
    s.reservations
        .cancel(user(3), third)
        .await
        .expect("cancel the offer");
    assert_eq!(entry(&s, user(3), e3.id).await.status, WaitlistStatus::Left);
    assert_eq!(offer(&s, sch.schedule_id, long_offers()).await, 1);
    let last = entry(&s, user(4), e4.id).await;
    assert_eq!(last.offer.map(|o| o.seat_id), Some(ids[0]));
}

/// A user's entries page newest first; another user sees none of them.
pub async fn waitlist_entries_page_newest_first_and_stay_private(s: StoreUnderTest) {
    let c = concert(&s, "Pages").await;
    let mut made = Vec::new();
    for _ in 0..3 {
        let sch = schedule(&s, c, 1, 1000).await;
        hold_ok(&s, user(1), &sch, &seat_ids(&sch), default_holds()).await;
        made.push(join(&s, user(2), sch.schedule_id).await.id);
        s.wait(Duration::from_millis(5)).await;
    }
    made.reverse();
    let first = s
        .waitlist
        .waitlist_entries(user(2), PageRequest::new(Some(2), None).expect("page"))
        .await
        .expect("page 1");
    assert_eq!(first.items.len(), 2);
    let cursor = first.next_cursor.expect("more");
    let second = s
        .waitlist
        .waitlist_entries(
            user(2),
            PageRequest::new(Some(2), Some(cursor)).expect("page"),
        )
        .await
        .expect("page 2");
    assert_eq!(second.next_cursor, None);
    let seen: Vec<WaitlistEntryId> = first
        .items
        .iter()
        .chain(second.items.iter())
        .map(|e| e.id)
        .collect();
    assert_eq!(seen, made);
    let theirs = s
        .waitlist
        .waitlist_entries(user(3), PageRequest::new(None, None).expect("page"))
        .await
        .expect("list");
    assert!(theirs.items.is_empty());
}

/// An operator's counts of a date's entries go by effective status: a lapsed offer counts as
/// EXPIRED at once (no sweep), a left entry as LEFT, a paid offer as FULFILLED; a date without
/// entries counts zeros and an unknown date is `None`.
pub async fn waitlist_counts_go_by_effective_status(s: StoreUnderTest) {
    let c = concert(&s, "Counts").await;
    let sch = schedule(&s, c, 1, 800).await;
    let empty = schedule(&s, c, 1, 800).await;
    let ids = seat_ids(&sch);
    let counts = |schedule: ScheduleId| {
        let s = s.clone();
        async move { s.waitlist.waitlist_counts(schedule).await.expect("counts") }
    };
    assert_eq!(
        counts(ScheduleId::new(999_999).expect("positive")).await,
        None
    );
    assert_eq!(
        counts(empty.schedule_id).await,
        Some(WaitlistCounts::default())
    );
    let a = hold_ok(&s, user(1), &sch, &ids, default_holds()).await;
    let e2 = join(&s, user(2), sch.schedule_id).await;
    let e3 = join(&s, user(3), sch.schedule_id).await;
    join(&s, user(4), sch.schedule_id).await;
    let e5 = join(&s, user(5), sch.schedule_id).await;
    s.reservations.cancel(user(1), a.id).await.expect("cancel");
    let short = WaitlistPolicy::new(Duration::from_secs(1)).expect("valid");
    assert_eq!(offer(&s, sch.schedule_id, short).await, 1);
    s.waitlist
        .leave_waitlist(user(5), e5.id, long_offers())
        .await
        .expect("leave");
    let offered = WaitlistCounts {
        waiting: 2,
        offered: 1,
        left: 1,
        ..WaitlistCounts::default()
    };
    assert_eq!(counts(sch.schedule_id).await, Some(offered));
    s.wait(Duration::from_millis(1200)).await;
    assert_eq!(
        entry(&s, user(2), e2.id).await.status,
        WaitlistStatus::Expired
    );
    let lapsed = WaitlistCounts {
        waiting: 2,
        expired: 1,
        left: 1,
        ..WaitlistCounts::default()
    };
    assert_eq!(
        counts(sch.schedule_id).await,
        Some(lapsed),
        "a lapsed offer counts as expired before any sweep"
    );
    offer(&s, sch.schedule_id, long_offers()).await;
    let o = entry(&s, user(3), e3.id).await.offer.expect("offered");
    charge_ok(&s, user(3), 5000, "charge").await;
    s.wallets
        .pay(NewPayment {
            user_id: user(3),
            reservation_id: o.reservation_id,
            queue_token: None,
            payment_id: PaymentId::from_uuid(Uuid::now_v7()),
            transaction_id: TransactionId::from_uuid(Uuid::now_v7()),
            idempotency: idem("pay-offer", "pay-offer"),
        })
        .await
        .expect("pay");
    assert_eq!(
        counts(sch.schedule_id).await,
        Some(WaitlistCounts {
            waiting: 1,
            fulfilled: 1,
            expired: 1,
            left: 1,
            ..WaitlistCounts::default()
        })
    );
}
