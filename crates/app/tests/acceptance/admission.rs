//! 5. 50 tokens issued in order are admitted in that order; active never exceeds maxActive.

use crate::common::{Store, TestApp};
use reqwest::{Method, StatusCode};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const USERS: usize = 50;
const MAX_ACTIVE: i64 = 5;

async fn tokens_are_admitted_in_issue_order_within_the_cap(store: &Store) {
    // Arrange: admit at most 2 per 100 ms tick, at most 5 active.
    let app = TestApp::spawn(store, |c| {
        c.queue_admit_batch = 2;
        c.queue_max_active = 5;
        c.queue_admit_interval_ms = 100;
    })
    .await;
    let (concert_id, _, _) = app.concert_with_seats(&[1_000]).await;
    let mut users = Vec::new();
    for i in 0..USERS {
        let mut user = app.user(i64::try_from(i).expect("small") + 1);
        let (status, ticket) = user.join(concert_id).await;
        assert_eq!(status, StatusCode::CREATED);
        // A join answers with the token's standing read just after its commit: a 100 ms tick
        // may admit one of the first tokens in between, and an ACTIVE token has no position.
        assert!(
            ticket["status"] == "ACTIVE" || ticket["position"].as_u64().is_some_and(|p| p >= 1),
            "{ticket}"
        );
        users.push(user);
    }

    // Act: poll everyone; whoever is admitted leaves at once to free a slot.
    let mut admitted_order: Vec<usize> = Vec::new();
    let mut done = BTreeSet::new();
    let mut last_position = vec![u64::MAX; USERS];
    let deadline = Instant::now() + Duration::from_secs(60);
    while done.len() < USERS {
        assert!(
            Instant::now() < deadline,
            "admission stalled at {}",
            done.len()
        );
        let (status, stats) = app
            .admin(
                Method::GET,
                &format!("/api/v1/admin/concerts/{concert_id}/queue"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{stats}");
        assert!(
            stats["active"].as_i64().is_some_and(|a| a <= MAX_ACTIVE),
            "over the cap: {stats}"
        );
        let mut round = Vec::new();
        // Polled from the back of the line to the front: a tick between two polls can only
        // make an earlier-issued token look admitted, so a correct FIFO always shows a prefix.
        for (i, user) in users.iter().enumerate().rev() {
            if done.contains(&i) {
                continue;
            }
            let (status, ticket) = user.get("/api/v1/queue-tokens/current").await;
            assert_eq!(status, StatusCode::OK, "{ticket}");
            match ticket["status"].as_str() {
                Some("ACTIVE") => round.push(i),
                Some("WAITING") => {
                    let position = ticket["position"]
                        .as_u64()
                        .expect("a waiting token has a position");
                    assert!(
                        position <= last_position[i],
                        "position went up for user {i}"
                    );
                    last_position[i] = position;
                }
                other => panic!("unexpected status {other:?}"),
            }
        }
        // The admitted set must always be a prefix of the issue order.
        for i in &round {
            done.insert(*i);
            let (status, _) = users[*i]
                .send(Method::DELETE, "/api/v1/queue-tokens/current", None, None)
                .await;
            assert_eq!(status, StatusCode::NO_CONTENT);
        }
        round.sort_unstable();
        admitted_order.extend(round);
        assert_eq!(
            done.iter().copied().collect::<Vec<_>>(),
            (0..done.len()).collect::<Vec<_>>(),
            "admission skipped someone"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Assert
    assert_eq!(admitted_order, (0..USERS).collect::<Vec<_>>());
    app.app.stop().await.expect("clean stop");
}

crate::on_both_stores!(tokens_are_admitted_in_issue_order_within_the_cap);
