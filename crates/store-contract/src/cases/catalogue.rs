//! Catalogue and health cases.

use crate::fixtures::{
    concert, default_holds, hold_ok, schedule, schedule_at, seat_ids, seats, user, won,
};
use crate::StoreUnderTest;
use chrono::{TimeDelta, Utc};
use domain::{BrowseError, ConcertId, CreateScheduleError, NewSchedule, ScheduleId};

/// `ping` answers.
pub async fn health_ping_answers(s: StoreUnderTest) {
    assert_eq!(s.health.ping().await, Ok(()));
}

/// Created concerts are listed by id with their title and venue.
pub async fn catalogue_creates_and_lists_concerts(s: StoreUnderTest) {
    let before = s.catalogue.list_concerts().await.expect("list").len();
    let a = concert(&s, "Contract Concert A").await;
    let b = concert(&s, "Contract Concert B").await;
    assert!(a < b, "concert ids grow: {a} then {b}");
    let listed = s.catalogue.list_concerts().await.expect("list");
    assert_eq!(listed.len(), before + 2);
    assert!(listed.windows(2).all(|w| w[0].id < w[1].id), "listed by id");
    let found = listed.iter().find(|c| c.id == b).expect("b is listed");
    assert_eq!(found.title.as_str(), "Contract Concert B");
    assert_eq!(found.venue.as_str(), "Contract Hall");

    let created = schedule(&s, a, 5, 99_000).await;
    assert_eq!(created.concert_id, a);
    assert_eq!(created.seats.len(), 5);
    assert!(
        created.seats.windows(2).all(|w| w[0].id < w[1].id),
        "seats by id"
    );
    assert!(created
        .seats
        .iter()
        .all(|seat| seat.available && seat.price == won(99_000)));
    let numbers: Vec<&str> = created.seats.iter().map(|x| x.number.as_str()).collect();
    assert_eq!(numbers, ["S-1", "S-2", "S-3", "S-4", "S-5"]);
    assert_eq!(
        s.catalogue.schedule_concert(created.schedule_id).await,
        Ok(Some(a))
    );
    let read = s
        .catalogue
        .schedule_seats(created.schedule_id)
        .await
        .expect("seats");
    assert_eq!(
        (read.schedule_id, read.concert_id, &read.seats),
        (created.schedule_id, a, &created.seats)
    );
    let drift = (read.starts_at - created.starts_at)
        .num_milliseconds()
        .abs();
    assert!(drift <= 1, "start time survives storage");
}

/// Only schedules that have not started are listed, by start time, with seat counts.
pub async fn catalogue_lists_only_future_schedules_in_order(s: StoreUnderTest) {
    let c = concert(&s, "Future Only").await;
    let later = schedule_at(&s, c, TimeDelta::days(14), seats(3, 1000)).await;
    let _past = schedule_at(&s, c, TimeDelta::hours(-1), seats(2, 1000)).await;
    let sooner = schedule_at(&s, c, TimeDelta::days(7), seats(4, 1000)).await;
    let other = concert(&s, "Other").await;
    let _elsewhere = schedule(&s, other, 2, 1000).await;

    let listed = s.catalogue.future_schedules(c).await.expect("schedules");
    let ids: Vec<ScheduleId> = listed.iter().map(|x| x.id).collect();
    assert_eq!(ids, [sooner.schedule_id, later.schedule_id]);
    assert!(listed
        .iter()
        .all(|x| x.concert_id == c && x.starts_at > Utc::now()));
    assert_eq!(
        listed
            .iter()
            .map(|x| (x.total_seats, x.available_seats))
            .collect::<Vec<_>>(),
        [(4, 4), (3, 3)]
    );
    let empty = concert(&s, "No Dates").await;
    assert_eq!(s.catalogue.future_schedules(empty).await, Ok(vec![]));
}

/// Unknown concerts and schedules are reported as not found.
pub async fn catalogue_unknown_ids_are_not_found(s: StoreUnderTest) {
    let missing_concert = ConcertId::new(9_000_000_000).expect("id");
    let missing_schedule = ScheduleId::new(9_000_000_000).expect("id");
    assert_eq!(
        s.catalogue.future_schedules(missing_concert).await,
        Err(BrowseError::NotFound)
    );
    assert_eq!(
        s.catalogue.schedule_seats(missing_schedule).await,
        Err(BrowseError::NotFound)
    );
    assert_eq!(
        s.catalogue.schedule_concert(missing_schedule).await,
        Ok(None)
    );
    let new = NewSchedule::new(Utc::now() + TimeDelta::days(1), seats(1, 1)).expect("schedule");
    assert_eq!(
        s.catalogue.create_schedule(missing_concert, new).await,
        Err(CreateScheduleError::ConcertNotFound)
    );
}

/// A held seat is unavailable in the seat map and the schedule's counts.
pub async fn seat_availability_follows_holds(s: StoreUnderTest) {
    let c = concert(&s, "Availability").await;
    let sch = schedule(&s, c, 6, 5000).await;
    let ids = seat_ids(&sch);
    hold_ok(&s, user(1), &sch, &[ids[1], ids[4]], default_holds()).await;
    let seats_now = s
        .catalogue
        .schedule_seats(sch.schedule_id)
        .await
        .expect("seats");
    let available: Vec<bool> = seats_now.seats.iter().map(|x| x.available).collect();
    assert_eq!(available, [true, false, true, true, false, true]);
    let listed = s.catalogue.future_schedules(c).await.expect("schedules");
    assert_eq!((listed[0].total_seats, listed[0].available_seats), (6, 4));
}
