//! Starting and stopping the whole service in-process.

use app::{spawn_app, Config, Secret, StoreKind};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// `GET path` over a plain HTTP/1.1 connection; returns the status line.
async fn get_status_line(addr: SocketAddr, path: &'static str) -> String {
    tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).expect("connects");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .expect("writes");
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        response.lines().next().unwrap_or_default().to_owned()
    })
    .await
    .expect("request task")
}

#[tokio::test]
async fn starts_on_a_free_port_serves_and_stops_gracefully() {
    let app = spawn_app(Config {
        queue_admit_interval_ms: 100,
        hold_ttl_secs: 1,
        ..Config::for_tests()
    })
    .await
    .expect("starts");
    assert_ne!(app.addr.port(), 0, "the real port is reported");
    assert_eq!(app.store, StoreKind::Memory);
    assert_eq!(app.resolved.settings.hold.ttl(), Duration::from_secs(1));
    assert!(app.base_url().starts_with("http://127.0.0.1:"));
    assert!(!app
        .mint_token(1, Duration::from_secs(60))
        .expect("mints")
        .is_empty());

    let status = get_status_line(app.addr, "/health/live").await;
    assert!(status.contains("200"), "{status}");

    let addr = app.addr;
    let asked = Instant::now();
    app.stop().await.expect("stops cleanly");
    assert!(asked.elapsed() < Duration::from_secs(5), "stop is prompt");
    assert!(
        TcpStream::connect(addr).is_err(),
        "the port is closed after stop"
    );
}

#[tokio::test]
async fn the_shutdown_token_ends_run_until() {
    let app = spawn_app(Config::for_tests()).await.expect("starts");
    let token = app.shutdown_token();
    let running = tokio::spawn(app.run_until(std::future::pending()));
    token.cancel();
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("stops in time")
        .expect("task")
        .expect("clean stop");
}

#[tokio::test]
async fn refuses_to_start_with_a_database_and_no_secrets() {
    let err = spawn_app(Config {
        database_url: Some(Secret::new("postgres://nobody@127.0.0.1:1/none")),
        ..Config::for_tests()
    })
    .await
    .expect_err("refused");
    assert!(err.to_string().contains("JWT_SECRET"), "{err}");
}

#[tokio::test]
async fn refuses_invalid_settings_before_binding() {
    let err = spawn_app(Config {
        queue_max_active: 0,
        ..Config::for_tests()
    })
    .await
    .expect_err("refused");
    assert_eq!(
        err.to_string(),
        "invalid setting QUEUE_MAX_ACTIVE: must be at least 1"
    );
}

#[tokio::test]
async fn reports_an_address_it_cannot_bind() {
    let first = spawn_app(Config::for_tests()).await.expect("starts");
    let err = spawn_app(Config {
        bind_addr: first.addr.to_string(),
        ..Config::for_tests()
    })
    .await
    .expect_err("the port is taken");
    assert!(err.to_string().contains("BIND_ADDR"), "{err}");
    first.stop().await.expect("stops");
}
