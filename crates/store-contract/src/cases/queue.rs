//! Waiting-queue cases.

use crate::fixtures::{
    admitted_for, concert, queue_policy, roomy_queue, tick, token_id, token_status, user,
};
use crate::StoreUnderTest;
use domain::{
    ConcertId, JoinQueueError, QueueAccessError, QueueSettingsPatch, QueueTokenError, QueueTokenId,
    QueueTokenStatus,
};
use std::collections::HashSet;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(600);

async fn join_new(
    s: &StoreUnderTest,
    user_no: i64,
    concert_id: ConcertId,
    policy: domain::QueuePolicy,
) -> QueueTokenId {
    let joined = s
        .queue
        .join(user(user_no), concert_id, token_id(), policy)
        .await
        .expect("join");
    assert!(joined.created, "user {user_no} gets a new token");
    joined.standing.token.id
}

/// Joining again returns the live token with `created == false`.
pub async fn join_returns_the_live_token(s: StoreUnderTest) {
    let p = roomy_queue();
    let c = concert(&s, "Join").await;
    let first_id = token_id();
    let first = s.queue.join(user(1), c, first_id, p).await.expect("join");
    assert!(first.created);
    let t = &first.standing.token;
    assert_eq!((t.id, t.user_id, t.concert_id), (first_id, user(1), c));
    assert_eq!(t.status, QueueTokenStatus::Waiting);
    assert_eq!(t.active_until, None);
    assert_eq!(first.standing.position, Some(1));

    let again = s.queue.join(user(1), c, token_id(), p).await.expect("join");
    assert!(!again.created);
    assert_eq!(again.standing.token.id, first_id);
    assert_eq!(again.standing.position, Some(1));

    // Still the same once admitted (ACTIVE is live too).
    tick(&s, p).await;
    let active = s.queue.join(user(1), c, token_id(), p).await.expect("join");
    assert!(!active.created);
    assert_eq!(active.standing.token.id, first_id);
    assert_eq!(active.standing.token.status, QueueTokenStatus::Active);
    assert_eq!(active.standing.position, None);
    assert!(active.standing.token.active_until.is_some());
}

/// One live token per user and concert; after leaving, a join issues a new one.
pub async fn one_live_token_per_user_and_concert(s: StoreUnderTest) {
    let p = roomy_queue();
    let a = concert(&s, "Live A").await;
    let b = concert(&s, "Live B").await;
    let in_a = join_new(&s, 1, a, p).await;
    let in_b = join_new(&s, 1, b, p).await;
    assert_ne!(in_a, in_b);
    let other_user = join_new(&s, 2, a, p).await;
    assert_ne!(other_user, in_a);
    let b_seq = s
        .queue
        .token(in_b, p)
        .await
        .expect("token")
        .expect("known")
        .seq;
    let a_tokens = [in_a, other_user];
    let mut seqs = Vec::new();
    for id in a_tokens {
        seqs.push(
            s.queue
                .token(id, p)
                .await
                .expect("token")
                .expect("known")
                .seq,
        );
    }
    assert!(seqs[0] < seqs[1], "seq grows within a concert");
    assert!(b_seq > 0);

    s.queue.leave(in_a, user(1)).await.expect("leave");
    let rejoined = s.queue.join(user(1), a, token_id(), p).await.expect("join");
    assert!(rejoined.created, "a left token is not live");
    assert_ne!(rejoined.standing.token.id, in_a);
    assert!(
        rejoined.standing.token.seq > seqs[1],
        "a new token goes to the back"
    );
    assert_eq!(rejoined.standing.position, Some(2));
    assert_eq!(token_status(&s, in_a, p).await, QueueTokenStatus::Expired);
}

/// Thirty concurrent joins of one user issue exactly one token.
pub async fn concurrent_joins_issue_one_token(s: StoreUnderTest) {
    let p = roomy_queue();
    let c = concert(&s, "Concurrent Joins").await;
    let mut tasks = Vec::new();
    for _ in 0..30 {
        let queue = s.queue.clone();
        tasks.push(tokio::spawn(async move {
            queue.join(user(7), c, token_id(), p).await
        }));
    }
    let mut created = 0;
    let mut ids = HashSet::new();
    for task in tasks {
        let joined = task.await.expect("task").expect("join");
        created += usize::from(joined.created);
        ids.insert(joined.standing.token.id);
    }
    assert_eq!(created, 1);
    assert_eq!(ids.len(), 1);
    assert_eq!(s.queue.stats(c, p).await.expect("stats").waiting, 1);
}

/// A storm of concurrent joins, every one a different user (plus repeats of one user and joins
/// of a missing concert mixed in), numbers the line without gaps or repeats: the places are
/// exactly 1..=n in issue order.
pub async fn a_join_storm_numbers_the_line_without_gaps(s: StoreUnderTest) {
    // Arrange
    let p = roomy_queue();
    let c = concert(&s, "Storm").await;
    let missing = ConcertId::new(9_000_000_001).expect("id");
    let n = 150_i64;

    // Act
    let mut tasks = Vec::new();
    for k in 0..n + 20 {
        let queue = s.queue.clone();
        tasks.push(tokio::spawn(async move {
            let (who, where_) = match k {
                k if k < n => (user(1000 + k), c),
                k if k < n + 10 => (user(5), c),
                _ => (user(2000 + k), missing),
            };
            (k, queue.join(who, where_, token_id(), p).await)
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("task"));
    }

    // Assert
    let mut seqs = Vec::new();
    let mut positions = Vec::new();
    let mut repeat_created = 0;
    for (k, answer) in answers {
        if k >= n + 10 {
            assert_eq!(answer.err(), Some(JoinQueueError::ConcertNotFound));
            continue;
        }
        let joined = answer.expect("join");
        if k >= n {
            repeat_created += usize::from(joined.created);
            continue;
        }
        assert!(joined.created, "join {k} is a new user");
        let standing = s
            .queue
            .poll(joined.standing.token.id, user(1000 + k), p)
            .await
            .expect("poll");
        seqs.push(standing.token.seq);
        positions.push((standing.token.seq, standing.position.expect("waiting")));
    }
    assert_eq!(repeat_created, 1, "one of the repeated user's joins issues");
    let waiting = s.queue.stats(c, p).await.expect("stats").waiting;
    assert_eq!(waiting, u64::try_from(n + 1).expect("small"));
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(
        seqs.len(),
        usize::try_from(n).expect("small"),
        "no seq repeats"
    );
    assert!(
        seqs.last().expect("some") - seqs[0] <= n,
        "no gaps beyond the repeated user's token"
    );
    positions.sort_unstable();
    let places: Vec<u64> = positions.iter().map(|&(_, place)| place).collect();
    let mut sorted = places.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), places.len(), "no two tokens share a place");
    assert_eq!(places, sorted, "places follow issue order");
    assert!(*places.last().expect("some") <= u64::try_from(n + 1).expect("small"));
}

/// Joining an unknown concert fails.
pub async fn join_unknown_concert_is_not_found(s: StoreUnderTest) {
    let missing = ConcertId::new(9_000_000_000).expect("id");
    assert_eq!(
        s.queue
            .join(user(1), missing, token_id(), roomy_queue())
            .await,
        Err(JoinQueueError::ConcertNotFound)
    );
    assert!(s.queue.stats(missing, roomy_queue()).await.is_err());
}

/// 50 tokens are admitted strictly in issue order, never more than `max_active` at once.
pub async fn admission_is_fifo_and_never_exceeds_max_active(s: StoreUnderTest) {
    let (batch, cap) = (7u64, 20u64);
    let p = queue_policy(7, 20, LONG, LONG);
    let c = concert(&s, "FIFO").await;
    let mut issued = Vec::new();
    for u in 1..=50 {
        issued.push(join_new(&s, u, c, p).await);
    }
    let mut left: HashSet<QueueTokenId> = HashSet::new();
    let mut admitted_total = 0u64;
    let mut max_seen = 0u64;
    for _tick in 0..100 {
        let before = s.queue.stats(c, p).await.expect("stats");
        let reports = tick(&s, p).await;
        let admitted = admitted_for(&reports, c);
        let expected = batch.min(cap - before.active).min(before.waiting);
        assert_eq!(
            admitted, expected,
            "one tick admits min(batch, room, waiting)"
        );
        admitted_total += admitted;
        let after = s.queue.stats(c, p).await.expect("stats");
        assert!(after.active <= cap, "active {} above the cap", after.active);
        assert_eq!(after.active, before.active + admitted);
        assert_eq!(after.waiting, before.waiting - admitted);
        max_seen = max_seen.max(after.active);

        // Whoever was ever admitted must be exactly the earliest-issued tokens.
        let mut statuses = Vec::new();
        for id in &issued {
            statuses.push(token_status(&s, *id, p).await);
        }
        let ever_admitted = statuses
            .iter()
            .zip(&issued)
            .filter(|(st, id)| **st == QueueTokenStatus::Active || left.contains(id))
            .count();
        assert_eq!(ever_admitted as u64, admitted_total);
        for (i, (st, id)) in statuses.iter().zip(&issued).enumerate() {
            let expected = if i < ever_admitted {
                if left.contains(id) {
                    QueueTokenStatus::Expired
                } else {
                    QueueTokenStatus::Active
                }
            } else {
                QueueTokenStatus::Waiting
            };
            assert_eq!(
                *st,
                expected,
                "token #{} after {admitted_total} admitted",
                i + 1
            );
        }
        if admitted_total == 50 {
            break;
        }
        // The five longest-active holders finish and free their slots.
        let active: Vec<QueueTokenId> = issued
            .iter()
            .zip(&statuses)
            .filter(|(_, st)| **st == QueueTokenStatus::Active)
            .map(|(id, _)| *id)
            .take(5)
            .collect();
        if after.active == cap {
            for id in active {
                let holder = issued.iter().position(|x| *x == id).expect("issued") as i64 + 1;
                s.queue.leave(id, user(holder)).await.expect("leave");
                left.insert(id);
            }
        }
    }
    assert_eq!(admitted_total, 50, "everyone is admitted eventually");
    assert_eq!(max_seen, cap, "the cap was reached and held");
}

/// One tick admits at most the batch.
pub async fn admission_respects_the_batch(s: StoreUnderTest) {
    let p = queue_policy(3, 100, LONG, LONG);
    let c = concert(&s, "Batch").await;
    for u in 1..=8 {
        join_new(&s, u, c, p).await;
    }
    let mut per_tick = Vec::new();
    for _ in 0..4 {
        per_tick.push(admitted_for(&tick(&s, p).await, c));
    }
    assert_eq!(per_tick, [3, 3, 2, 0]);
    let stats = s.queue.stats(c, p).await.expect("stats");
    assert_eq!((stats.waiting, stats.active), (0, 8));
    assert_eq!(stats.admitted_last_minute, 8);
}

/// Concurrent ticks in one admission slot admit the batch once, in issue order; ticks of later
/// slots, concurrent too, never admit above the cap.
pub async fn concurrent_admission_ticks_respect_the_cap(s: StoreUnderTest) {
    // One slot: an hour long, so twenty concurrent ticks all fall in it (unless the test runs
    // across the turn of an hour: about one run in 100,000).
    let hourly = domain::QueuePolicy::new(10, 25, Duration::from_secs(3600), LONG, LONG)
        .expect("valid queue policy");
    let p = queue_policy(10, 25, LONG, LONG);
    let c = concert(&s, "Concurrent Ticks").await;
    let mut issued = Vec::new();
    for u in 1..=60 {
        issued.push(join_new(&s, u, c, p).await);
    }
    let concurrent_ticks = |policy: domain::QueuePolicy| {
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let queue = s.queue.clone();
                tokio::spawn(async move { queue.admit(policy).await })
            })
            .collect();
        async move {
            let mut total = 0;
            for task in tasks {
                total += admitted_for(&task.await.expect("task").expect("admit"), c);
            }
            total
        }
    };
    assert_eq!(concurrent_ticks(hourly).await, 10, "one slot, one batch");

    let mut total = 10;
    for _ in 0..10 {
        s.wait(p.admit_interval()).await;
        total += concurrent_ticks(p).await;
        let stats = s.queue.stats(c, p).await.expect("stats");
        assert!(stats.active <= 25, "active {} above the cap", stats.active);
    }
    assert_eq!(total, 25);
    let stats = s.queue.stats(c, p).await.expect("stats");
    assert_eq!((stats.active, stats.waiting), (25, 35));
    for (i, id) in issued.iter().enumerate() {
        let expected = if i < 25 {
            QueueTokenStatus::Active
        } else {
            QueueTokenStatus::Waiting
        };
        assert_eq!(token_status(&s, *id, p).await, expected, "token #{}", i + 1);
    }
}

/// However many ticks run in one admission slot, the slot admits at most the batch; the next
/// slot admits the next batch.
pub async fn one_slot_admits_one_batch(s: StoreUnderTest) {
    // Slots of an hour: the ticks below share one (see the case above for the odds).
    let hourly = domain::QueuePolicy::new(3, 100, Duration::from_secs(3600), LONG, LONG)
        .expect("valid queue policy");
    let c = concert(&s, "One Batch Per Slot").await;
    for u in 1..=8 {
        join_new(&s, u, c, hourly).await;
    }
    let mut per_tick = Vec::new();
    for _ in 0..3 {
        per_tick.push(admitted_for(
            &s.queue.admit(hourly).await.expect("admit"),
            c,
        ));
    }
    assert_eq!(per_tick, [3, 0, 0]);
    // An operator raises the batch: the same slot tops up to the new batch, no further.
    let patch = QueueSettingsPatch::new(Some(5), None, None).expect("patch");
    s.queue
        .update_settings(c, patch, hourly)
        .await
        .expect("update");
    assert_eq!(
        admitted_for(&s.queue.admit(hourly).await.expect("admit"), c),
        2
    );
    assert_eq!(
        admitted_for(&s.queue.admit(hourly).await.expect("admit"), c),
        0
    );
    // Slots of a millisecond start later than the hour's slot: the next batch goes in.
    let fast = queue_policy(3, 100, LONG, LONG);
    assert_eq!(admitted_for(&tick(&s, fast).await, c), 3);
    let stats = s.queue.stats(c, fast).await.expect("stats");
    assert_eq!((stats.active, stats.waiting), (8, 0));
}

/// A paused concert admits nobody (other concerts are unaffected); resuming admits again.
pub async fn paused_concert_admits_nobody(s: StoreUnderTest) {
    let p = queue_policy(5, 100, LONG, LONG);
    let paused = concert(&s, "Paused").await;
    let running = concert(&s, "Running").await;
    for u in 1..=3 {
        join_new(&s, u, paused, p).await;
        join_new(&s, u, running, p).await;
    }
    let patch = QueueSettingsPatch::new(None, None, Some(true)).expect("patch");
    let stats = s
        .queue
        .update_settings(paused, patch, p)
        .await
        .expect("pause");
    assert!(stats.settings.paused);
    let reports = tick(&s, p).await;
    assert_eq!(admitted_for(&reports, paused), 0);
    assert_eq!(admitted_for(&reports, running), 3);
    let stats = s.queue.stats(paused, p).await.expect("stats");
    assert_eq!(
        (stats.waiting, stats.active, stats.admitted_last_minute),
        (3, 0, 0)
    );
    // Joining still works while paused.
    join_new(&s, 9, paused, p).await;

    let resume = QueueSettingsPatch::new(None, None, Some(false)).expect("patch");
    s.queue
        .update_settings(paused, resume, p)
        .await
        .expect("resume");
    let reports = tick(&s, p).await;
    assert_eq!(admitted_for(&reports, paused), 4);
}

/// Overrides persist per concert; the rest comes from the policy defaults.
pub async fn settings_overrides_are_stored(s: StoreUnderTest) {
    let p = queue_policy(4, 50, LONG, LONG);
    let c = concert(&s, "Settings").await;
    let other = concert(&s, "Untouched").await;
    let defaults = s.queue.stats(c, p).await.expect("stats").settings;
    assert_eq!(
        (defaults.admit_batch, defaults.max_active, defaults.paused),
        (4, 50, false)
    );
    let patch = QueueSettingsPatch::new(Some(2), None, None).expect("patch");
    let after = s.queue.update_settings(c, patch, p).await.expect("update");
    assert_eq!(
        (
            after.settings.admit_batch,
            after.settings.max_active,
            after.settings.paused
        ),
        (2, 50, false)
    );
    let patch = QueueSettingsPatch::new(None, Some(3), None).expect("patch");
    let after = s.queue.update_settings(c, patch, p).await.expect("update");
    assert_eq!(
        (after.settings.admit_batch, after.settings.max_active),
        (2, 3)
    );
    assert_eq!(
        s.queue.stats(c, p).await.expect("stats").settings,
        after.settings
    );
    assert_eq!(
        s.queue.stats(other, p).await.expect("stats").settings,
        defaults,
        "other concerts keep the defaults"
    );
    for u in 1..=6 {
        join_new(&s, u, c, p).await;
    }
    let first = admitted_for(&tick(&s, p).await, c);
    let second = admitted_for(&tick(&s, p).await, c);
    assert_eq!((first, second), (2, 1), "batch 2, cap 3");
    let all = s.queue.all_stats(p).await.expect("all stats");
    let mine = all.iter().find(|(id, _)| *id == c).expect("listed").1;
    assert_eq!((mine.waiting, mine.active), (3, 3));
    assert!(all.iter().any(|(id, _)| *id == other));
    assert_eq!(
        s.queue
            .update_settings(ConcertId::new(9_000_000_000).expect("id"), patch, p)
            .await
            .map(|_| ()),
        Err(domain::AdminQueueError::ConcertNotFound)
    );
}

async fn positions(
    s: &StoreUnderTest,
    tokens: &[(i64, QueueTokenId)],
    p: domain::QueuePolicy,
) -> Vec<Option<u64>> {
    let mut out = Vec::new();
    for (u, id) in tokens {
        out.push(s.queue.poll(*id, user(*u), p).await.expect("poll").position);
    }
    out
}

/// Positions are 1..n in issue order and only ever go down.
pub async fn positions_count_from_one_and_never_go_up(s: StoreUnderTest) {
    let p = queue_policy(2, 100, LONG, LONG);
    let c = concert(&s, "Positions").await;
    let mut tokens = Vec::new();
    for u in 1..=10 {
        tokens.push((u, join_new(&s, u, c, p).await));
    }
    let start = positions(&s, &tokens, p).await;
    assert_eq!(start, (1..=10).map(Some).collect::<Vec<_>>());

    s.queue.leave(tokens[2].1, user(3)).await.expect("leave");
    let after_leave = positions(&s, &tokens, p).await;
    let expected: Vec<Option<u64>> = vec![
        Some(1),
        Some(2),
        None,
        Some(3),
        Some(4),
        Some(5),
        Some(6),
        Some(7),
        Some(8),
        Some(9),
    ];
    assert_eq!(after_leave, expected);

    tick(&s, p).await;
    let after_admit = positions(&s, &tokens, p).await;
    let expected: Vec<Option<u64>> = vec![
        None,
        None,
        None,
        Some(1),
        Some(2),
        Some(3),
        Some(4),
        Some(5),
        Some(6),
        Some(7),
    ];
    assert_eq!(after_admit, expected);
    for (before, after) in after_leave.iter().zip(&after_admit) {
        if let (Some(b), Some(a)) = (before, after) {
            assert!(a <= b, "position went up from {b} to {a}");
        }
    }
    let late = s
        .queue
        .join(user(11), c, token_id(), p)
        .await
        .expect("join");
    assert_eq!(late.standing.position, Some(8));
    assert_eq!(
        positions(&s, &tokens, p).await,
        expected,
        "a newcomer moves nobody"
    );
    let stats = s.queue.stats(c, p).await.expect("stats");
    assert_eq!((stats.waiting, stats.active), (8, 2));
}

/// A polled token keeps its place; unpolled ones expire at once and `drop_idle` sweeps them
/// in bounded batches.
pub async fn poll_keeps_a_place_and_drop_idle_drops_the_rest(s: StoreUnderTest) {
    let idle = Duration::from_secs(2);
    let p = queue_policy(10, 100, LONG, idle);
    let c = concert(&s, "Idle").await;
    let b = join_new(&s, 2, c, p).await;
    let a = join_new(&s, 1, c, p).await;
    let c3 = join_new(&s, 3, c, p).await;
    s.wait(Duration::from_millis(1500)).await;
    let polled = s.queue.poll(a, user(1), p).await.expect("poll");
    assert_eq!(polled.token.status, QueueTokenStatus::Waiting);
    s.wait(Duration::from_millis(1200)).await;

    assert_eq!(token_status(&s, b, p).await, QueueTokenStatus::Expired);
    assert_eq!(token_status(&s, c3, p).await, QueueTokenStatus::Expired);
    let alive = s.queue.poll(a, user(1), p).await.expect("poll");
    assert_eq!(alive.token.status, QueueTokenStatus::Waiting);
    assert_eq!(alive.position, Some(1), "idle tokens ahead no longer count");
    assert_eq!(s.queue.stats(c, p).await.expect("stats").waiting, 1);

    assert_eq!(s.queue.drop_idle(idle, 1).await, Ok(1));
    assert_eq!(s.queue.drop_idle(idle, 10).await, Ok(1));
    assert_eq!(s.queue.drop_idle(idle, 10).await, Ok(0));
    // Polling an expired token does not revive it.
    let dead = s.queue.poll(b, user(2), p).await.expect("poll");
    assert_eq!(
        (dead.token.status, dead.position),
        (QueueTokenStatus::Expired, None)
    );
    // Admission takes the live one only.
    assert_eq!(admitted_for(&tick(&s, p).await, c), 1);
    assert_eq!(token_status(&s, a, p).await, QueueTokenStatus::Active);
    let back = s.queue.join(user(2), c, token_id(), p).await.expect("join");
    assert!(back.created, "an idle-expired token is not live");
}

/// Unknown tokens are `TokenRequired`; another user's token is `NotActive`.
pub async fn poll_and_leave_check_the_holder(s: StoreUnderTest) {
    let p = roomy_queue();
    let c = concert(&s, "Holder").await;
    let mine = join_new(&s, 1, c, p).await;
    let unknown = token_id();
    let required = Err(QueueTokenError::Access(QueueAccessError::TokenRequired));
    let not_active = Err(QueueTokenError::Access(QueueAccessError::NotActive));
    assert_eq!(
        s.queue.poll(unknown, user(1), p).await.map(|_| ()),
        required
    );
    assert_eq!(s.queue.leave(unknown, user(1)).await, required);
    assert_eq!(s.queue.poll(mine, user(2), p).await.map(|_| ()), not_active);
    assert_eq!(s.queue.leave(mine, user(2)).await, not_active);
    assert_eq!(token_status(&s, mine, p).await, QueueTokenStatus::Waiting);
    assert_eq!(s.queue.token(unknown, p).await, Ok(None));
}

/// Leaving expires the token (waiting or active), frees the slot, and is idempotent.
pub async fn leave_expires_the_token(s: StoreUnderTest) {
    let p = queue_policy(1, 1, LONG, LONG);
    let c = concert(&s, "Leave").await;
    let first = join_new(&s, 1, c, p).await;
    let second = join_new(&s, 2, c, p).await;
    let third = join_new(&s, 3, c, p).await;
    tick(&s, p).await;
    assert_eq!(token_status(&s, first, p).await, QueueTokenStatus::Active);
    // The cap is full: nobody else gets in.
    assert_eq!(admitted_for(&tick(&s, p).await, c), 0);

    s.queue.leave(third, user(3)).await.expect("leave waiting");
    assert_eq!(token_status(&s, third, p).await, QueueTokenStatus::Expired);
    s.queue.leave(first, user(1)).await.expect("leave active");
    assert_eq!(token_status(&s, first, p).await, QueueTokenStatus::Expired);
    s.queue
        .leave(first, user(1))
        .await
        .expect("leaving twice is fine");
    assert_eq!(token_status(&s, first, p).await, QueueTokenStatus::Expired);

    assert_eq!(admitted_for(&tick(&s, p).await, c), 1);
    assert_eq!(token_status(&s, second, p).await, QueueTokenStatus::Active);
    let stats = s.queue.stats(c, p).await.expect("stats");
    assert_eq!((stats.waiting, stats.active), (0, 1));
}

/// An ACTIVE token is EXPIRED once `active_until` passes, freeing its slot before any sweep;
/// `expire_active` then marks them in bounded batches.
pub async fn active_window_closes_without_a_sweep(s: StoreUnderTest) {
    let p = queue_policy(10, 3, Duration::from_secs(1), LONG);
    let c = concert(&s, "Active Window").await;
    let mut tokens = Vec::new();
    for u in 1..=4 {
        tokens.push(join_new(&s, u, c, p).await);
    }
    tick(&s, p).await;
    let standing = s.queue.poll(tokens[0], user(1), p).await.expect("poll");
    assert_eq!(standing.token.status, QueueTokenStatus::Active);
    let until = standing.token.active_until.expect("active until");
    let issued = standing.token.issued_at;
    assert!(until > issued, "the window closes after admission");
    assert_eq!(s.queue.stats(c, p).await.expect("stats").active, 3);

    s.wait(Duration::from_millis(1300)).await;
    for id in &tokens[..3] {
        assert_eq!(token_status(&s, *id, p).await, QueueTokenStatus::Expired);
    }
    assert_eq!(s.queue.stats(c, p).await.expect("stats").active, 0);
    let rejoined = s.queue.join(user(1), c, token_id(), p).await.expect("join");
    assert!(rejoined.created, "an expired active token is not live");
    // Admit with a long window so that only the first three are due for the sweep.
    let long = queue_policy(10, 3, LONG, LONG);
    assert_eq!(admitted_for(&tick(&s, long).await, c), 2);
    assert_eq!(
        token_status(&s, tokens[3], p).await,
        QueueTokenStatus::Active
    );

    // Users 2 and 3 still hold stored-ACTIVE tokens whose window closed (user 1's was replaced
    // by the join, which a store may or may not have marked already).
    let first = s.queue.expire_active(1).await.expect("expire");
    let second = s.queue.expire_active(10).await.expect("expire");
    assert_eq!(first, 1, "bounded by the batch");
    assert!((1..=2).contains(&second), "the rest: {second}");
    assert_eq!(s.queue.expire_active(10).await, Ok(0));
    assert_eq!(s.queue.stats(c, p).await.expect("stats").active, 2);
}
