//! Sale-window and pre-queue draw cases (API v1.1).

use crate::fixtures::{queue_policy, roomy_queue, tick, token_id, token_status, user};
use crate::StoreUnderTest;
use chrono::{TimeDelta, Utc};
use domain::{
    draw_places, spearman_rho, ConcertId, ConcertTitle, JoinQueueError, NewConcert,
    QueueAccessError, QueuePolicy, QueueSettingsPatch, QueueTokenId, QueueTokenStatus, SalePatch,
    SalePatchRefused, SaleWindow, Timestamp, UpdateSaleError, Venue,
};
use std::time::Duration;

/// The first seed of the draws of a store built by the contract's factories (see
/// `tests/contract.rs` of each adapter): both stores then draw the same permutations.
pub const CONTRACT_DRAW_SEED: u64 = 20_250_110;

fn in_secs(secs: i64) -> Timestamp {
    Utc::now() + TimeDelta::seconds(secs)
}

/// A concert with the given sale window.
async fn concert_with_sale(
    s: &StoreUnderTest,
    title: &str,
    opens_at: Option<Timestamp>,
    closes_at: Option<Timestamp>,
) -> ConcertId {
    s.catalogue
        .create_concert(NewConcert {
            title: ConcertTitle::new(title).expect("title"),
            venue: Venue::new("Sale Hall").expect("venue"),
            sale: SaleWindow::new(opens_at, closes_at).expect("window"),
        })
        .await
        .expect("create concert")
        .id
}

/// Opens the sale now (moves the opening a second into the past).
async fn open_now(s: &StoreUnderTest, c: ConcertId) -> Timestamp {
    s.catalogue
        .update_sale(c, SalePatch::new(Some(in_secs(-1)), None))
        .await
        .expect("open the sale")
        .sale
        .opens_at()
        .expect("an opening")
}

async fn join(s: &StoreUnderTest, u: i64, c: ConcertId, p: QueuePolicy) -> (QueueTokenId, i64) {
    let joined = s.queue.join(user(u), c, token_id(), p).await.expect("join");
    assert!(joined.created, "user {u} gets a new token");
    (joined.standing.token.id, joined.standing.token.seq)
}

/// A window is stored, listed, and changed only as `patch_sale` allows.
pub async fn sale_window_is_listed_and_patched(s: StoreUnderTest) {
    let (opens, closes) = (in_secs(3600), in_secs(7200));
    let c = concert_with_sale(&s, "Window", Some(opens), Some(closes)).await;
    let plain = concert_with_sale(&s, "No window", None, None).await;
    let listed = s.catalogue.list_concerts().await.expect("list");
    let window = |id| listed.iter().find(|x| x.id == id).expect("listed").sale;
    let stored = window(c);
    let close_enough = |a: Option<Timestamp>, b: Timestamp| {
        a.is_some_and(|a| (a - b).num_milliseconds().abs() < 1)
    };
    assert!(close_enough(stored.opens_at(), opens));
    assert!(close_enough(stored.closes_at(), closes));
    assert_eq!(window(plain), SaleWindow::ALWAYS_OPEN);

    // Move the opening (no draw yet, not open): fine; a closing before it: refused.
    let later = in_secs(5000);
    let moved = s
        .catalogue
        .update_sale(c, SalePatch::new(Some(later), None))
        .await
        .expect("move");
    assert!(close_enough(moved.sale.opens_at(), later));
    assert!(close_enough(moved.sale.closes_at(), closes));
    assert_eq!(
        s.catalogue
            .update_sale(c, SalePatch::new(None, Some(Some(in_secs(4000)))))
            .await,
        Err(UpdateSaleError::Refused(SalePatchRefused::Invalid(
            domain::InvalidSaleWindow::ClosesBeforeOpening
        )))
    );
    let unclosed = s
        .catalogue
        .update_sale(c, SalePatch::new(None, Some(None)))
        .await
        .expect("remove the closing");
    assert_eq!(unclosed.sale.closes_at(), None);
    let unknown = ConcertId::new(999_999).expect("id");
    assert_eq!(
        s.catalogue
            .update_sale(unknown, SalePatch::new(Some(later), None))
            .await,
        Err(UpdateSaleError::ConcertNotFound)
    );
}

/// Before the opening a join gets a PRE_QUEUE token with no position; polling and joining again
/// return it; it is not active, admission passes it by, and the stats do not count it waiting.
pub async fn a_join_before_the_opening_waits_in_the_pre_queue(s: StoreUnderTest) {
    let p = roomy_queue();
    let c = concert_with_sale(&s, "Pre-queue", Some(in_secs(3600)), None).await;
    let joined = s.queue.join(user(1), c, token_id(), p).await.expect("join");
    assert!(joined.created);
    let t = &joined.standing.token;
    assert_eq!(t.status, QueueTokenStatus::PreQueue);
    assert_eq!(joined.standing.position, None);
    assert!(joined.standing.sale_opens_at.is_some());
    let again = s.queue.join(user(1), c, token_id(), p).await.expect("join");
    assert!(!again.created);
    assert_eq!(again.standing.token.id, t.id);
    let polled = s.queue.poll(t.id, user(1), p).await.expect("poll");
    assert_eq!(
        (polled.token.status, polled.position),
        (QueueTokenStatus::PreQueue, None)
    );
    assert_eq!(polled.sale_opens_at, joined.standing.sale_opens_at);
    assert_eq!(
        s.queue.poll(t.id, user(2), p).await,
        Err(QueueAccessError::NotActive.into())
    );

    tick(&s, p).await;
    let token = s.queue.token(t.id, p).await.expect("token").expect("known");
    assert_eq!(token.status, QueueTokenStatus::PreQueue);
    assert_eq!(
        token.authorize(user(1), c),
        Err(QueueAccessError::NotActive)
    );
    let stats = s.queue.stats(c, p).await.expect("stats");
    assert_eq!((stats.waiting, stats.active), (0, 0));
    assert!(s.queue.draw(p).await.expect("draw").is_empty(), "not due");

    s.queue.leave(t.id, user(1)).await.expect("leave");
    assert_eq!(token_status(&s, t.id, p).await, QueueTokenStatus::Expired);
}

/// A pre-queue place not polled for the idle timeout is dropped, like a waiting one.
pub async fn an_idle_pre_queue_place_is_dropped(s: StoreUnderTest) {
    let p = queue_policy(10, 10, Duration::from_secs(60), Duration::from_millis(1500));
    let c = concert_with_sale(&s, "Idle pre-queue", Some(in_secs(3600)), None).await;
    let (kept, _) = join(&s, 1, c, p).await;
    let (idle, _) = join(&s, 2, c, p).await;
    s.wait(Duration::from_millis(900)).await;
    s.queue.poll(kept, user(1), p).await.expect("poll");
    s.wait(Duration::from_millis(900)).await;
    assert_eq!(token_status(&s, kept, p).await, QueueTokenStatus::PreQueue);
    assert_eq!(token_status(&s, idle, p).await, QueueTokenStatus::Expired);
    let dropped = s
        .queue
        .drop_idle(p.idle_timeout(), 100)
        .await
        .expect("drop idle");
    assert!(dropped >= 1, "the idle pre-queue place is swept");
    let rejoined = s.queue.join(user(2), c, token_id(), p).await.expect("join");
    assert!(rejoined.created, "a dropped place is not live");
    assert_eq!(rejoined.standing.token.status, QueueTokenStatus::PreQueue);
}

/// After the closing a new join is SALE_CLOSED; a token already in line goes on.
pub async fn a_join_after_the_close_is_refused_and_the_line_goes_on(s: StoreUnderTest) {
    let p = roomy_queue();
    let c = concert_with_sale(&s, "Closing", None, Some(in_secs(2))).await;
    let (early, _) = join(&s, 1, c, p).await;
    assert_eq!(token_status(&s, early, p).await, QueueTokenStatus::Waiting);
    s.wait(Duration::from_millis(2300)).await;
    assert_eq!(
        s.queue.join(user(2), c, token_id(), p).await,
        Err(JoinQueueError::SaleClosed)
    );
    let again = s.queue.join(user(1), c, token_id(), p).await.expect("join");
    assert!(!again.created, "the live token is returned");
    assert_eq!(again.standing.token.id, early);
    tick(&s, p).await;
    assert_eq!(token_status(&s, early, p).await, QueueTokenStatus::Active);
}

/// The opening cannot be added once tokens were issued in an open sale, nor moved after the
/// draw; the closing still can.
pub async fn the_opening_moves_only_before_the_sale_opened(s: StoreUnderTest) {
    let p = roomy_queue();
    let open = concert_with_sale(&s, "Open already", None, None).await;
    join(&s, 1, open, p).await;
    assert_eq!(
        s.catalogue
            .update_sale(open, SalePatch::new(Some(in_secs(600)), None))
            .await,
        Err(UpdateSaleError::Refused(SalePatchRefused::AlreadyOpen))
    );
    assert!(s
        .catalogue
        .update_sale(open, SalePatch::new(None, Some(Some(in_secs(600)))))
        .await
        .is_ok());

    let c = concert_with_sale(&s, "Drawn", Some(in_secs(3600)), None).await;
    join(&s, 1, c, p).await;
    let opened = open_now(&s, c).await;
    assert_eq!(s.queue.draw(p).await.expect("draw").len(), 1);
    assert_eq!(
        s.catalogue
            .update_sale(c, SalePatch::new(Some(in_secs(600)), None))
            .await,
        Err(UpdateSaleError::Refused(SalePatchRefused::AlreadyOpen))
    );
    let same = s
        .catalogue
        .update_sale(c, SalePatch::new(Some(opened), Some(Some(in_secs(600)))))
        .await
        .expect("the same opening is not a move");
    assert_eq!(same.sale.opens_at(), Some(opened));
}

/// The draw: every live pre-queue token gets one place 1..N in the order the domain's shuffle
/// gives for the recorded seed; it happens once; later joins line up behind; admission then
/// follows the places.
pub async fn the_draw_places_the_pre_queue_once_then_admission_follows(s: StoreUnderTest) {
    let p = queue_policy(3, 1000, Duration::from_secs(600), Duration::from_secs(600));
    let c = concert_with_sale(&s, "Draw", Some(in_secs(3600)), None).await;
    let mut arrivals = Vec::new();
    for u in 1..=10 {
        arrivals.push(join(&s, u, c, p).await.0);
    }
    open_now(&s, c).await;
    let reports = s.queue.draw(p).await.expect("draw");
    assert_eq!(reports.len(), 1);
    assert_eq!((reports[0].concert_id, reports[0].drawn), (c, 10));
    assert!(
        s.queue.draw(p).await.expect("draw").is_empty(),
        "drawn once"
    );
    let places = draw_places(reports[0].seed, 10);
    for (i, (id, place)) in arrivals.iter().zip(&places).enumerate() {
        let u = i64::try_from(i).expect("small") + 1;
        let polled = s.queue.poll(*id, user(u), p).await.expect("poll");
        assert_eq!(polled.token.status, QueueTokenStatus::Waiting);
        assert_eq!(
            polled.position,
            Some(u64::try_from(*place).expect("small") + 1),
            "arrival {i} is at its drawn place"
        );
    }
    let late = s
        .queue
        .join(user(11), c, token_id(), p)
        .await
        .expect("join");
    assert_eq!(
        (late.standing.token.status, late.standing.position),
        (QueueTokenStatus::Waiting, Some(11))
    );
    tick(&s, p).await;
    for (id, place) in arrivals.iter().zip(&places) {
        let expected = if *place < 3 {
            QueueTokenStatus::Active
        } else {
            QueueTokenStatus::Waiting
        };
        assert_eq!(token_status(&s, *id, p).await, expected);
    }
    let polled = s
        .queue
        .poll(late.standing.token.id, user(11), p)
        .await
        .expect("poll");
    assert_eq!(polled.position, Some(8));
}

/// A paused queue still draws at the opening (and admits nobody).
pub async fn a_paused_queue_still_draws(s: StoreUnderTest) {
    let p = roomy_queue();
    let c = concert_with_sale(&s, "Paused draw", Some(in_secs(3600)), None).await;
    let pause = QueueSettingsPatch::new(None, None, Some(true)).expect("patch");
    s.queue.update_settings(c, pause, p).await.expect("pause");
    let (a, _) = join(&s, 1, c, p).await;
    let (b, _) = join(&s, 2, c, p).await;
    open_now(&s, c).await;
    let admitted = tick(&s, p).await;
    assert!(admitted.is_empty(), "paused: nobody admitted");
    let positions = [
        s.queue.poll(a, user(1), p).await.expect("poll").position,
        s.queue.poll(b, user(2), p).await.expect("poll").position,
    ];
    let mut sorted: Vec<u64> = positions.iter().flatten().copied().collect();
    sorted.sort_unstable();
    assert_eq!(sorted, vec![1, 2], "both drawn: {positions:?}");
    assert!(
        s.queue.draw(p).await.expect("draw").is_empty(),
        "drawn once"
    );
    let stats = s.queue.stats(c, p).await.expect("stats");
    assert_eq!(stats.waiting, 2);
}

/// The statistical test: `SALE_DRAW_CONCERTS` draws (default 24) of 1,000 tokens each. For each
/// draw, Spearman's rho between arrival order and drawn place must be within 4/sqrt(N-1) of 0,
/// and the mean over the draws within 4 standard errors; every token gets exactly one of the
/// places 1..N, in the order the domain's shuffle gives for the recorded seed.
pub async fn draws_do_not_follow_arrival_order(s: StoreUnderTest) {
    const TOKENS: usize = 1000;
    let concerts: usize = std::env::var("SALE_DRAW_CONCERTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    let p = roomy_queue();
    let mut ids = Vec::new();
    for k in 0..concerts {
        ids.push(concert_with_sale(&s, &format!("Draw {k}"), Some(in_secs(3600)), None).await);
    }
    // Joins, 250 at a time: arrival order is the order the store numbered them.
    let mut entrants: Vec<Vec<(i64, QueueTokenId, i64)>> = vec![Vec::new(); concerts];
    for (k, &c) in ids.iter().enumerate() {
        for chunk in (1..=i64::try_from(TOKENS).expect("small"))
            .collect::<Vec<_>>()
            .chunks(250)
        {
            let tasks: Vec<_> = chunk
                .iter()
                .map(|&u| {
                    let queue = s.queue.clone();
                    tokio::spawn(async move {
                        let joined = queue.join(user(u), c, token_id(), p).await.expect("join");
                        (u, joined.standing.token.id, joined.standing.token.seq)
                    })
                })
                .collect();
            for t in tasks {
                entrants[k].push(t.await.expect("task"));
            }
        }
        entrants[k].sort_by_key(|e| e.2);
    }
    for &c in &ids {
        open_now(&s, c).await;
    }
    let reports = s.queue.draw(p).await.expect("draw");
    assert_eq!(reports.len(), concerts, "every concert drawn once");
    let bound = 4.0 / f64::from(u32::try_from(TOKENS - 1).expect("small")).sqrt();
    let mut rhos = Vec::new();
    for (k, &c) in ids.iter().enumerate() {
        let report = reports.iter().find(|r| r.concert_id == c).expect("drawn");
        assert_eq!(report.drawn, u64::try_from(TOKENS).expect("small"));
        let expected = draw_places(report.seed, TOKENS);
        let mut drawn_places = Vec::with_capacity(TOKENS);
        for chunk in entrants[k].chunks(250) {
            let tasks: Vec<_> = chunk
                .iter()
                .map(|&(u, id, _)| {
                    let queue = s.queue.clone();
                    tokio::spawn(async move { queue.poll(id, user(u), p).await.expect("poll") })
                })
                .collect();
            for t in tasks {
                let standing = t.await.expect("task");
                assert_eq!(standing.token.status, QueueTokenStatus::Waiting);
                let position = standing.position.expect("a drawn place");
                drawn_places.push(usize::try_from(position).expect("small") - 1);
            }
        }
        let mut sorted = drawn_places.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            (0..TOKENS).collect::<Vec<_>>(),
            "places exactly 1..N"
        );
        assert_eq!(drawn_places, expected, "the domain's shuffle for the seed");
        let arrival: Vec<usize> = (0..TOKENS).collect();
        let rho = spearman_rho(&arrival, &drawn_places);
        println!(
            "draw {k}: concert {c}, seed {}, N {TOKENS}, rho {rho:+.5} (bound {bound:.5})",
            report.seed
        );
        assert!(rho.abs() < bound, "draw {k}: |rho| {rho} >= {bound}");
        rhos.push(rho);
    }
    #[allow(clippy::cast_precision_loss)]
    let (n, draws) = (TOKENS as f64, rhos.len() as f64);
    let mean = rhos.iter().sum::<f64>() / draws;
    let standard_error = 1.0 / (n - 1.0).sqrt() / draws.sqrt();
    println!(
        "draws {concerts} x {TOKENS}: mean rho {mean:+.5}, standard error {standard_error:.5}, \
         bound {:.5}, max |rho| {:.5}",
        4.0 * standard_error,
        rhos.iter().fold(0.0f64, |m, r| m.max(r.abs()))
    );
    assert!(mean.abs() < 4.0 * standard_error, "mean rho {mean}");
}

/// The operator's stats show the live pre-queue (an idle place is not counted, like a waiting
/// one), the sale window, and when the draw happened; after the draw the places are waiting.
pub async fn queue_stats_show_the_pre_queue_and_the_draw(s: StoreUnderTest) {
    let p = queue_policy(10, 10, Duration::from_secs(60), Duration::from_millis(1500));
    let closes = in_secs(7200);
    let c = concert_with_sale(&s, "Stats pre-queue", Some(in_secs(3600)), Some(closes)).await;
    let (kept, _) = join(&s, 1, c, p).await;
    join(&s, 2, c, p).await;
    join(&s, 3, c, p).await;
    let before = s.queue.stats(c, p).await.expect("stats");
    assert_eq!((before.pre_queue, before.waiting), (3, 0));
    assert_eq!(before.drawn_at, None);
    assert!(before.sale.opens_at().is_some());
    // PostgreSQL keeps microseconds.
    assert_eq!(
        before.sale.closes_at().map(|t| t.timestamp_micros()),
        Some(closes.timestamp_micros())
    );
    s.wait(Duration::from_millis(900)).await;
    s.queue.poll(kept, user(1), p).await.expect("poll");
    s.wait(Duration::from_millis(900)).await;
    let idle = s.queue.stats(c, p).await.expect("stats");
    assert_eq!(idle.pre_queue, 1, "idle pre-queue places are not counted");
    let opened = open_now(&s, c).await;
    let reports = s.queue.draw(p).await.expect("draw");
    assert_eq!(reports.len(), 1);
    let after = s.queue.stats(c, p).await.expect("stats");
    assert_eq!((after.pre_queue, after.waiting), (0, 1));
    let drawn_at = after.drawn_at.expect("drawn");
    assert!(drawn_at >= opened, "drawn at or after the opening");
    assert_eq!(after.sale.opens_at(), Some(opened));
    let patch = QueueSettingsPatch::new(None, None, Some(true)).expect("patch");
    let patched = s.queue.update_settings(c, patch, p).await.expect("patch");
    assert_eq!(patched.drawn_at, Some(drawn_at));
    assert_eq!(patched.sale, after.sale);
}
