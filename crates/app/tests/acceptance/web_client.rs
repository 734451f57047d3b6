//! The web client served by the binary: the page and its files come with their content types,
//! no caching without revalidation, and a strict Content-Security-Policy; the page loads its
//! script and carries the element ids the browser tests rely on; it stays out of the API.

use crate::common::{read, Store, TestApp};
use reqwest::StatusCode;

/// What every file of the client must carry.
fn assert_served_safely(resp: &reqwest::Response, path: &str, content_type: &str) {
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(resp.status(), StatusCode::OK, "{path}");
    assert_eq!(header("content-type"), content_type, "{path}");
    assert_eq!(header("cache-control"), "no-cache", "{path}");
    assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
    let csp = header("content-security-policy");
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(
            csp.contains(directive),
            "{path}: {directive} missing in {csp}"
        );
    }
    assert!(!csp.contains("unsafe"), "{path}: {csp}");
}

impl TestApp {
    /// `GET path`, answered.
    async fn get_file(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("file request")
    }
}

#[tokio::test]
async fn the_page_its_style_and_its_script_are_served_with_types_and_a_strict_policy() {
    // Arrange
    let app = TestApp::spawn(&Store::Memory, |_| {}).await;

    for (path, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/app.css", "text/css; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
    ] {
        // Act
        let resp = app.get_file(path).await;

        // Assert
        assert_served_safely(&resp, path, content_type);
        let body = resp.text().await.expect("body");
        assert!(!body.trim().is_empty(), "{path} is empty");
    }
    let head = app
        .http
        .head(format!("{}/", app.base))
        .send()
        .await
        .expect("head");
    assert_served_safely(&head, "HEAD /", "text/html; charset=utf-8");
}

#[tokio::test]
async fn the_page_loads_its_script_and_has_the_contract_element_ids() {
    // Arrange
    let app = TestApp::spawn(&Store::Memory, |_| {}).await;

    // Act
    let page = app.get_file("/").await.text().await.expect("page");

    // Assert
    assert!(page.contains(r#"<script type="module" src="/app.js"></script>"#));
    assert!(page.contains(r#"<link rel="stylesheet" href="/app.css">"#));
    assert!(page.contains(r#"<body data-view="signin">"#));
    assert!(page.contains(r#"id="alert" role="alert""#));
    assert!(page.contains(r#"id="status" class="status" aria-live="polite""#));
    for id in [
        "who",
        "signout-button",
        "signin-form",
        "user-id",
        "signin-button",
        "signin-unavailable",
        "token-form",
        "token-input",
        "token-button",
        "concert-list",
        "queue-section",
        "queue-position",
        "queue-progress",
        "queue-wait",
        "queue-status",
        "leave-queue-button",
        "dates-section",
        "date-list",
        "seat-map",
        "selection-summary",
        "hold-button",
        "hold-section",
        "hold-countdown",
        "hold-expired",
        "pay-button",
        "release-button",
        "wallet-balance",
        "topup-amount",
        "topup-button",
        "confirmation-section",
        "confirmation-text",
        "ledger",
        "ledger-body",
    ] {
        assert!(page.contains(&format!(r#"id="{id}""#)), "#{id} missing");
    }
    for input in ["user-id", "token-input", "topup-amount"] {
        assert!(
            page.contains(&format!(r#"<label for="{input}">"#)),
            "#{input} has no label"
        );
    }
}

#[tokio::test]
async fn every_module_the_scripts_import_is_served_as_javascript() {
    // Arrange
    let app = TestApp::spawn(&Store::Memory, |_| {}).await;
    let mut pending = vec!["/app.js".to_owned()];
    let mut seen = Vec::new();

    // Act: follow the imports from the entry module
    while let Some(path) = pending.pop() {
        if seen.contains(&path) {
            continue;
        }
        let resp = app.get_file(&path).await;

        // Assert
        assert_served_safely(&resp, &path, "text/javascript; charset=utf-8");
        let source = resp.text().await.expect("module");
        for line in source.lines().filter(|l| l.starts_with("import ")) {
            let file = line
                .rsplit_once(" from \"./")
                .and_then(|(_, rest)| rest.strip_suffix("\";"))
                .unwrap_or_else(|| panic!("{path}: unexpected import `{line}`"));
            pending.push(format!("/{file}"));
        }
        seen.push(path);
    }
    assert!(seen.len() > 1, "app.js imports its parts: {seen:?}");
}

#[tokio::test]
async fn the_page_is_no_part_of_the_api() {
    // Arrange
    let app = TestApp::spawn(&Store::Memory, |_| {}).await;

    // Act
    let (doc_status, doc) = read(app.get_file("/api-docs/openapi.json").await).await;
    let (post_status, problem) = read(
        app.http
            .post(format!("{}/", app.base))
            .send()
            .await
            .expect("post"),
    )
    .await;
    let (missing_status, missing) = read(app.get_file("/missing.js").await).await;

    // Assert
    assert_eq!(doc_status, StatusCode::OK);
    let paths = doc["paths"].as_object().expect("paths");
    assert!(
        paths
            .keys()
            .all(|p| p.starts_with("/api/") || p.starts_with("/health") || p == "/metrics"),
        "{:?}",
        paths.keys().collect::<Vec<_>>()
    );
    assert_eq!(post_status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(problem["code"], "METHOD_NOT_ALLOWED");
    assert_eq!(missing_status, StatusCode::NOT_FOUND);
    assert_eq!(missing["code"], "NOT_FOUND");
}
