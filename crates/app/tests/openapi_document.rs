//! The checked-in OpenAPI document (`docs/openapi.json`) is the one the service serves: every
//! API change shows in review as a change of that file. When this test fails, regenerate the
//! file with `scripts/openapi` and review the diff.

use app::Config;
use std::path::PathBuf;

/// The command that regenerates the checked-in document.
const REGENERATE: &str = "scripts/openapi";

/// Where the document is checked in.
fn checked_in_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
}

/// The first line where `a` and `b` differ, for the failure message.
fn first_difference(a: &str, b: &str) -> String {
    let (mut left, mut right) = (a.lines(), b.lines());
    for number in 1.. {
        match (left.next(), right.next()) {
            (None, None) => break,
            (l, r) if l == r => {}
            (l, r) => {
                return format!(
                    "line {number}: served {:?}, checked in {:?}",
                    l.unwrap_or("<end>"),
                    r.unwrap_or("<end>")
                )
            }
        }
    }
    "only whitespace at the end differs".to_owned()
}

#[tokio::test]
async fn the_checked_in_document_is_the_served_one() {
    // Arrange: the service with its defaults (in-memory store, demo sign-in on), as
    // `scripts/openapi` runs `concert-reservation openapi` (without our variables).
    let config = Config::for_tests();
    let app = app::spawn_app(config.clone()).await.expect("app starts");
    let checked_in = std::fs::read_to_string(checked_in_path()).unwrap_or_default();

    // Act
    let served: serde_json::Value =
        reqwest::get(format!("{}/api-docs/openapi.json", app.base_url()))
            .await
            .expect("request")
            .json()
            .await
            .expect("a JSON document");
    let served = adapters_http::openapi::render(&served);
    let printed = app::openapi_document(&config)
        .await
        .expect("the openapi subcommand's document");
    app.stop().await.expect("clean stop");

    // Assert
    assert_eq!(
        printed, served,
        "`concert-reservation openapi` must print what the server serves"
    );
    assert!(
        served == checked_in,
        "docs/openapi.json differs from the document the service serves ({}); regenerate it \
         with `{REGENERATE}` and review the diff",
        first_difference(&served, &checked_in)
    );
}
