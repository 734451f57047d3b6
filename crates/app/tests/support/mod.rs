//! Helpers shared by the app's test binaries that run the service on PostgreSQL (each includes
//! this module with `mod support;`, the acceptance suite through a `#[path]`).

#![allow(dead_code, clippy::expect_used)]

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use reqwest::{RequestBuilder, StatusCode};
use serde_json::Value;
use std::time::{Duration, Instant};

/// Creates an empty database named `{prefix}_{uuid}` on the throwaway server and returns its URL;
/// the service applies the migrations itself at start-up, as in production.
pub async fn fresh_database(admin_url: &str, prefix: &str) -> String {
    let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
    let mut conn = AsyncPgConnection::establish(admin_url)
        .await
        .expect("connect to the test server");
    diesel::sql_query(format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create the test database");
    let (base, _) = admin_url
        .rsplit_once('/')
        .expect("a database URL has a path");
    format!("{base}/{name}")
}

/// What a request was answered, and how long that took.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub retry_after: Option<String>,
    pub body: Value,
    pub took: Duration,
}

/// Sends `req` and records its answer (a body that is not JSON reads as `null`).
pub async fn send(req: RequestBuilder) -> Answer {
    let started = Instant::now();
    let resp = req.send().await.expect("the service answers");
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get("Retry-After")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = resp.bytes().await.expect("body");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        retry_after,
        body,
        took: started.elapsed(),
    }
}
