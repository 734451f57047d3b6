//! Builds the real server over the real use cases with mocked ports, on port 0, and checks the
//! contract's surface: every route in the OpenAPI document, Swagger UI, and the problem answers
//! produced by actix itself (404, 405, 413, 415) and by the extractors (401, 400).

use adapters_http::{build_server, mint_user_jwt, HttpConfig, JwtRules, Metrics};
use application::{
    JoinRateLimit, JoinRateLimiter, Ports, Services, Settings, SystemClock, UuidV7Generator,
};
use domain::ports::{
    MockCatalogueStore, MockQueueStore, MockReservationStore, MockStoreHealth, MockWalletStore,
};
use domain::{
    ChargeReceipt, Concert, ConcertId, ConcertTitle, HoldPolicy, IdempotencyRecord, Money,
    QueuePolicy, StoreError, StoredOutcome, TransactionId, UserId, Venue, WalletPolicy,
    SEAT_PRICE_MAX,
};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

const SECRET: &str = "test-secret";
const ADMIN_KEY: &str = "test-admin-key";

/// Every route of the contract (method, path template).
const CONTRACT_ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/concerts"),
    ("post", "/api/v1/concerts/{concertId}/queue-tokens"),
    ("get", "/api/v1/queue-tokens/current"),
    ("delete", "/api/v1/queue-tokens/current"),
    ("get", "/api/v1/concerts/{concertId}/schedules"),
    ("get", "/api/v1/schedules/{scheduleId}/seats"),
    ("post", "/api/v1/reservations"),
    ("get", "/api/v1/reservations/{id}"),
    ("get", "/api/v1/reservations"),
    ("delete", "/api/v1/reservations/{id}"),
    ("post", "/api/v1/payments"),
    ("get", "/api/v1/wallet"),
    ("post", "/api/v1/wallet/charges"),
    ("get", "/api/v1/wallet/transactions"),
    ("post", "/api/v1/admin/concerts"),
    ("post", "/api/v1/admin/concerts/{concertId}/schedules"),
    ("get", "/api/v1/admin/concerts/{concertId}/queue"),
    ("patch", "/api/v1/admin/concerts/{concertId}/queue"),
    ("get", "/api/v1/admin/schedules/{scheduleId}/waitlist"),
    ("post", "/api/v1/demo/sign-in"),
    ("get", "/health/live"),
    ("get", "/health/ready"),
    ("get", "/metrics"),
];

struct Mocks {
    catalogue: MockCatalogueStore,
    queue: MockQueueStore,
    reservations: MockReservationStore,
    wallets: MockWalletStore,
    health: MockStoreHealth,
}

impl Mocks {
    /// Mocks answering the calls every test may make: the concert list, readiness, and the
    /// metrics' queue gauges.
    fn new() -> Self {
        let mut catalogue = MockCatalogueStore::new();
        catalogue.expect_list_concerts().returning(|| {
            Ok(vec![Concert {
                id: ConcertId::new(1).expect("id"),
                title: ConcertTitle::new("IU").expect("title"),
                venue: Venue::new("Seoul").expect("venue"),
                sale: domain::SaleWindow::ALWAYS_OPEN,
            }])
        });
        let mut queue = MockQueueStore::new();
        queue.expect_all_stats().returning(|_| Ok(vec![]));
        let mut health = MockStoreHealth::new();
        health.expect_ping().returning(|| Ok(()));
        Self {
            catalogue,
            queue,
            reservations: MockReservationStore::new(),
            wallets: MockWalletStore::new(),
            health,
        }
    }

    fn into_services(self) -> Services {
        let s = Duration::from_secs;
        let ports = Ports {
            catalogue: Arc::new(self.catalogue),
            queue: Arc::new(self.queue),
            reservations: Arc::new(self.reservations),
            wallets: Arc::new(self.wallets),
            waitlist: Arc::new(domain::ports::MockWaitlistStore::new()),
            health: Arc::new(self.health),
            clock: Arc::new(SystemClock),
            ids: Arc::new(UuidV7Generator),
        };
        let settings = Settings {
            queue: QueuePolicy::new(100, 1000, Duration::from_millis(1000), s(600), s(300))
                .expect("queue policy"),
            hold: HoldPolicy::new(
                s(300),
                domain::DEFAULT_MAX_SEATS_PER_RESERVATION,
                domain::DEFAULT_MAX_SEATS_HELD_PER_USER,
            )
            .expect("hold policy"),
            wallet: WalletPolicy::new(domain::DEFAULT_CHARGE_MAX, domain::DEFAULT_BALANCE_MAX)
                .expect("wallet policy"),
            refund: domain::RefundPolicy::default(),
        };
        let limiter = JoinRateLimiter::new(JoinRateLimit {
            max_joins: 0,
            window_secs: 1,
        });
        Services::new(ports, settings, limiter)
    }
}

/// A running server and a client for it.
struct TestServer {
    base: String,
    client: reqwest::Client,
}

impl TestServer {
    fn start(mocks: Mocks) -> Self {
        Self::start_with(mocks, |_| {})
    }

    /// Starts with the settings of in-memory mode (demo sign-in on, CORS for any origin),
    /// changed by `tweak`.
    fn start_with(mocks: Mocks, tweak: impl FnOnce(&mut HttpConfig)) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut config = HttpConfig {
            jwt_secret: SECRET.to_owned(),
            jwt_rules: JwtRules::default(),
            admin_api_key: ADMIN_KEY.to_owned(),
            body_limit_bytes: 65_536,
            request_timeout: Duration::from_secs(10),
            demo_sign_in: true,
            cors: adapters_http::CorsPolicy::any_origin(),
        };
        tweak(&mut config);
        let server = build_server(mocks.into_services(), config, Metrics::new(), listener, 1)
            .expect("server");
        actix_web::rt::spawn(server);
        Self {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn user_token(&self) -> String {
        mint_user_jwt(
            SECRET,
            UserId::new(7).expect("id"),
            Duration::from_secs(300),
        )
    }
}

async fn problem(res: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(res.status().as_u16(), status, "status");
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = res.json().await.expect("problem body");
    assert_eq!(body["type"], "about:blank");
    assert_eq!(body["status"], status);
    assert_eq!(body["code"], code, "{body}");
    assert!(body["title"].is_string());
    assert!(body["detail"].is_string());
    body
}

#[actix_web::test]
async fn openapi_document_lists_every_contract_route() {
    let srv = TestServer::start(Mocks::new());
    let res = srv
        .client
        .get(srv.url("/api-docs/openapi.json"))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status().as_u16(), 200);
    let doc: Value = res.json().await.expect("json");
    assert!(
        doc["openapi"]
            .as_str()
            .unwrap_or_default()
            .starts_with("3."),
        "OpenAPI 3: {}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().expect("paths");
    let mut missing = Vec::new();
    for (method, path) in CONTRACT_ROUTES {
        if paths.get(*path).and_then(|p| p.get(*method)).is_none() {
            missing.push(format!("{method} {path}"));
        }
    }
    assert!(missing.is_empty(), "missing from the document: {missing:?}");
    assert_eq!(
        doc["components"]["securitySchemes"]["userJwt"]["scheme"],
        "bearer"
    );
    let cancel = &doc["paths"]["/api/v1/reservations/{id}"]["delete"];
    assert!(cancel["description"]
        .as_str()
        .unwrap_or_default()
        .contains("RESERVATION_NOT_CANCELLABLE"));
    assert!(cancel["responses"]["409"]["content"]["application/problem+json"].is_object());
    let charge_params = doc["paths"]["/api/v1/wallet/charges"]["post"]["parameters"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(charge_params
        .iter()
        .any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header"));
    assert!(doc["paths"]["/api/v1/reservations"]["post"]["responses"]["201"].is_object());
    let join = &doc["paths"]["/api/v1/concerts/{concertId}/queue-tokens"]["post"];
    assert!(join["responses"]["201"].is_object() && join["responses"]["200"].is_object());
    assert!(join["parameters"].as_array().is_some_and(|ps| ps
        .iter()
        .any(|p| p["name"] == "concertId" && p["in"] == "path")));
}

#[actix_web::test]
async fn swagger_ui_is_served() {
    let srv = TestServer::start(Mocks::new());
    let res = srv
        .client
        .get(srv.url("/swagger-ui/"))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status().as_u16(), 200);
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let html = res.text().await.expect("body");
    assert!(html.contains("/api-docs/openapi.json"));
    let css = srv
        .client
        .get(srv.url("/swagger-ui/swagger-ui-bundle.js"))
        .send()
        .await
        .expect("request");
    assert_eq!(css.status().as_u16(), 200);
    let missing = srv
        .client
        .get(srv.url("/swagger-ui/nope.js"))
        .send()
        .await
        .expect("request");
    problem(missing, 404, "NOT_FOUND").await;
}

#[actix_web::test]
async fn unknown_path_is_a_404_problem() {
    let srv = TestServer::start(Mocks::new());
    let res = srv
        .client
        .get(srv.url("/api/v1/nothing-here"))
        .send()
        .await
        .expect("request");
    problem(res, 404, "NOT_FOUND").await;
}

#[actix_web::test]
async fn wrong_method_is_a_405_problem() {
    let srv = TestServer::start(Mocks::new());
    for (method, path) in [
        (reqwest::Method::PUT, "/api/v1/concerts"),
        (reqwest::Method::DELETE, "/api/v1/payments"),
        (reqwest::Method::POST, "/api/v1/wallet"),
        (reqwest::Method::GET, "/api/v1/wallet/charges"),
    ] {
        let res = srv
            .client
            .request(method, srv.url(path))
            .send()
            .await
            .expect("request");
        problem(res, 405, "METHOD_NOT_ALLOWED").await;
    }
}

#[actix_web::test]
async fn oversized_body_is_413() {
    let srv = TestServer::start(Mocks::new());
    let padding = "x".repeat(70 * 1024);
    let body = format!(r#"{{"scheduleId":1,"seatIds":[1],"pad":"{padding}"}}"#);
    let res = srv
        .client
        .post(srv.url("/api/v1/reservations"))
        .bearer_auth(srv.user_token())
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request");
    problem(res, 413, "PAYLOAD_TOO_LARGE").await;
}

#[actix_web::test]
async fn non_json_body_is_415() {
    let srv = TestServer::start(Mocks::new());
    let res = srv
        .client
        .post(srv.url("/api/v1/reservations"))
        .bearer_auth(srv.user_token())
        .header("content-type", "text/plain")
        .body(r#"{"scheduleId":1,"seatIds":[1]}"#)
        .send()
        .await
        .expect("request");
    problem(res, 415, "UNSUPPORTED_MEDIA_TYPE").await;
}

#[actix_web::test]
async fn missing_or_bad_jwt_is_401() {
    let srv = TestServer::start(Mocks::new());
    let res = srv
        .client
        .get(srv.url("/api/v1/wallet"))
        .send()
        .await
        .expect("request");
    assert_eq!(
        res.headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );
    problem(res, 401, "UNAUTHENTICATED").await;
    let forged = mint_user_jwt(
        "wrong",
        UserId::new(7).expect("id"),
        Duration::from_secs(60),
    );
    let res = srv
        .client
        .get(srv.url("/api/v1/wallet"))
        .bearer_auth(forged)
        .send()
        .await
        .expect("request");
    problem(res, 401, "UNAUTHENTICATED").await;
}

#[actix_web::test]
async fn unknown_json_field_is_400() {
    let srv = TestServer::start(Mocks::new());
    let res = srv
        .client
        .post(srv.url("/api/v1/reservations"))
        .bearer_auth(srv.user_token())
        .json(&json!({"scheduleId": 1, "seatIds": [1], "price": 1}))
        .send()
        .await
        .expect("request");
    problem(res, 400, "VALIDATION_FAILED").await;
    let res = srv
        .client
        .post(srv.url("/api/v1/wallet/charges"))
        .bearer_auth(srv.user_token())
        .header("Idempotency-Key", "k1")
        .json(&json!({"amount": 1000, "userId": 9}))
        .send()
        .await
        .expect("request");
    problem(res, 400, "VALIDATION_FAILED").await;
}

#[actix_web::test]
async fn bad_inputs_map_to_contract_codes() {
    let srv = TestServer::start(Mocks::new());
    let token = srv.user_token();
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (
            srv.client
                .get(srv.url("/api/v1/reservations/not-a-uuid"))
                .bearer_auth(&token),
            404,
            "NOT_FOUND",
        ),
        (
            srv.client
                .post(srv.url("/api/v1/concerts/abc/queue-tokens"))
                .bearer_auth(&token),
            404,
            "NOT_FOUND",
        ),
        (
            srv.client
                .post(srv.url("/api/v1/concerts/0/queue-tokens"))
                .bearer_auth(&token),
            404,
            "NOT_FOUND",
        ),
        (
            srv.client
                .get(srv.url("/api/v1/reservations?limit=101"))
                .bearer_auth(&token),
            400,
            "VALIDATION_FAILED",
        ),
        (
            srv.client
                .get(srv.url("/api/v1/wallet/transactions?limit=0"))
                .bearer_auth(&token),
            400,
            "VALIDATION_FAILED",
        ),
        (
            srv.client
                .get(srv.url("/api/v1/reservations?limit=abc"))
                .bearer_auth(&token),
            400,
            "VALIDATION_FAILED",
        ),
        (
            srv.client
                .get(srv.url("/api/v1/reservations?cursor=garbage"))
                .bearer_auth(&token),
            400,
            "VALIDATION_FAILED",
        ),
        (
            srv.client
                .post(srv.url("/api/v1/wallet/charges"))
                .bearer_auth(&token)
                .json(&json!({"amount": 1000})),
            400,
            "IDEMPOTENCY_KEY_REQUIRED",
        ),
        (
            srv.client
                .post(srv.url("/api/v1/payments"))
                .bearer_auth(&token)
                .header("Idempotency-Key", "k2")
                .json(&json!({"reservationId": "nope"})),
            400,
            "VALIDATION_FAILED",
        ),
        (
            srv.client
                .post(srv.url("/api/v1/reservations"))
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body("{not json"),
            400,
            "VALIDATION_FAILED",
        ),
        (
            srv.client.get(srv.url("/api/v1/queue-tokens/current")),
            401,
            "UNAUTHENTICATED",
        ),
        (
            srv.client
                .post(srv.url("/api/v1/admin/concerts"))
                .json(&json!({"title": "t", "venue": "v"})),
            401,
            "UNAUTHENTICATED",
        ),
        (
            srv.client
                .post(srv.url("/api/v1/admin/concerts"))
                .bearer_auth(&token)
                .json(&json!({"title": "t", "venue": "v"})),
            403,
            "FORBIDDEN",
        ),
        (
            srv.client
                .post(srv.url("/api/v1/admin/concerts"))
                .bearer_auth(ADMIN_KEY)
                .json(&json!({"title": "  ", "venue": "v"})),
            400,
            "VALIDATION_FAILED",
        ),
        (
            // serde would read an array as the struct's fields in order: `[1000]` as an amount.
            srv.client
                .post(srv.url("/api/v1/wallet/charges"))
                .bearer_auth(&token)
                .header("Idempotency-Key", "array-body")
                .json(&json!([1000])),
            400,
            "VALIDATION_FAILED",
        ),
        (
            srv.client
                .patch(srv.url("/api/v1/admin/concerts/1/queue"))
                .bearer_auth(ADMIN_KEY)
                .json(&json!([])),
            400,
            "VALIDATION_FAILED",
        ),
        (
            // 201 characters as sent (maxLength 200 in the document), 199 once trimmed.
            srv.client
                .post(srv.url("/api/v1/admin/concerts"))
                .bearer_auth(ADMIN_KEY)
                .json(&json!({"title": format!(" {} ", "t".repeat(199)), "venue": "v"})),
            400,
            "VALIDATION_FAILED",
        ),
        (
            srv.client
                .patch(srv.url("/api/v1/admin/concerts/1/queue"))
                .bearer_auth(ADMIN_KEY)
                .json(&json!({"admitBatch": 0})),
            400,
            "VALIDATION_FAILED",
        ),
    ];
    for (request, status, code) in cases {
        let res = request.send().await.expect("request");
        problem(res, status, code).await;
    }
}

#[actix_web::test]
async fn queue_guarded_routes_need_a_queue_token() {
    let srv = TestServer::start(Mocks::new());
    let res = srv
        .client
        .get(srv.url("/api/v1/queue-tokens/current"))
        .bearer_auth(srv.user_token())
        .send()
        .await
        .expect("request");
    problem(res, 401, "QUEUE_TOKEN_REQUIRED").await;
    let res = srv
        .client
        .get(srv.url("/api/v1/queue-tokens/current"))
        .bearer_auth(srv.user_token())
        .header("Queue-Token", "not-a-uuid")
        .send()
        .await
        .expect("request");
    problem(res, 401, "QUEUE_TOKEN_REQUIRED").await;
}

#[actix_web::test]
async fn public_and_ops_routes_answer() {
    let srv = TestServer::start(Mocks::new());
    let concerts: Value = srv
        .client
        .get(srv.url("/api/v1/concerts"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(
        concerts,
        json!([{"id": 1, "title": "IU", "venue": "Seoul", "saleOpensAt": null, "saleClosesAt": null}])
    );
    for path in ["/health/live", "/health/ready"] {
        let res = srv.client.get(srv.url(path)).send().await.expect("request");
        assert_eq!(res.status().as_u16(), 200, "{path}");
    }
    let metrics = srv
        .client
        .get(srv.url("/metrics"))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains(r#"route="/api/v1/concerts""#),
        "request metrics by route pattern: {metrics}"
    );
}

#[actix_web::test]
async fn readiness_fails_when_the_store_is_down() {
    let mut mocks = Mocks::new();
    mocks.health = MockStoreHealth::new();
    mocks
        .health
        .expect_ping()
        .returning(|| Err(StoreError::Unavailable("connection refused".into())));
    let srv = TestServer::start(mocks);
    let res = srv
        .client
        .get(srv.url("/health/ready"))
        .send()
        .await
        .expect("request");
    assert_eq!(
        res.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let body = problem(res, 503, "SERVICE_UNAVAILABLE").await;
    assert!(!body["detail"]
        .as_str()
        .unwrap_or_default()
        .contains("connection refused"));
}

#[actix_web::test]
async fn replayed_charge_has_the_same_status_and_the_replay_header() {
    let receipt = ChargeReceipt {
        transaction_id: TransactionId::from_uuid(uuid::Uuid::from_u128(5)),
        amount: Money::new(1000).expect("money"),
        balance: Money::new(3000).expect("money"),
        created_at: chrono::Utc::now(),
    };
    let fingerprint = adapters_http::idempotency::fingerprint(
        adapters_http::routes::wallet::CHARGE_OPERATION,
        r#"{"amount":1000}"#,
    );
    let mut mocks = Mocks::new();
    mocks
        .wallets
        .expect_idempotency_record()
        .returning(move |_, _| {
            Ok(Some(IdempotencyRecord {
                fingerprint: fingerprint.clone(),
                outcome: Some(StoredOutcome::Charged(receipt.clone())),
            }))
        });
    let srv = TestServer::start(mocks);
    let res = srv
        .client
        .post(srv.url("/api/v1/wallet/charges"))
        .bearer_auth(srv.user_token())
        .header("Idempotency-Key", "k-1")
        .header("content-type", "application/json")
        .body(r#"{ "amount" : 1000 }"#)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status().as_u16(), 201);
    assert_eq!(
        res.headers()
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    let body: Value = res.json().await.expect("json");
    assert_eq!(
        body,
        json!({"transactionId": uuid::Uuid::from_u128(5), "amount": 1000, "balance": 3000})
    );
    let reused = srv
        .client
        .post(srv.url("/api/v1/wallet/charges"))
        .bearer_auth(srv.user_token())
        .header("Idempotency-Key", "k-1")
        .json(&json!({"amount": 2000}))
        .send()
        .await
        .expect("request");
    problem(reused, 422, "IDEMPOTENCY_KEY_REUSED").await;
}

/// The values of the `method` label in a metrics text.
fn method_labels(metrics: &str) -> BTreeSet<String> {
    metrics
        .lines()
        .filter(|l| l.starts_with("http_requests_total{"))
        .filter_map(|l| l.split("method=\"").nth(1))
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

#[actix_web::test]
async fn made_up_methods_add_no_metric_label_values() {
    // Arrange
    let srv = TestServer::start(Mocks::new());
    let scrape = || async {
        srv.client
            .get(srv.url("/metrics"))
            .send()
            .await
            .expect("request")
            .text()
            .await
            .expect("text")
    };
    let first = reqwest::Method::from_bytes(b"BREW").expect("a token");
    let res = srv
        .client
        .request(first, srv.url("/api/v1/concerts"))
        .send()
        .await
        .expect("request");
    assert!(res.status().is_client_error());
    scrape().await; // so that the scrapes' own GET is counted before `before`
    let before = method_labels(&scrape().await);

    // Act
    for (method, path) in [
        ("PROPFIND", "/api/v1/concerts"),
        ("X-MADE-UP-1", "/no/such/path"),
        ("get", "/api/v1/wallet"),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a token");
        let res = srv
            .client
            .request(method, srv.url(path))
            .send()
            .await
            .expect("request");
        assert!(res.status().is_client_error(), "{path}: {}", res.status());
    }
    let after = method_labels(&scrape().await);

    // Assert
    assert_eq!(before, after, "no new method label value");
    assert!(after.contains("OTHER"), "{after:?}");
    let fixed = [
        "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "OTHER",
    ];
    assert!(
        after.iter().all(|m| fixed.contains(&m.as_str())),
        "{after:?}"
    );
}

#[actix_web::test]
async fn the_document_bounds_seat_prices_with_the_domain_constant() {
    // Arrange
    let srv = TestServer::start(Mocks::new());

    // Act
    let doc: Value = srv
        .client
        .get(srv.url("/api-docs/openapi.json"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");

    // Assert
    let price = &doc["components"]["schemas"]["CreateScheduleRequest"]["properties"]["seats"]
        ["items"]["properties"]["price"];
    assert_eq!(price["minimum"], 0, "{price}");
    assert_eq!(price["maximum"], SEAT_PRICE_MAX.won(), "{price}");
}

#[actix_web::test]
async fn a_seat_price_above_the_bound_is_refused_before_the_store() {
    // Arrange: the catalogue store must not be asked to create anything.
    let mut mocks = Mocks::new();
    mocks.catalogue.expect_create_schedule().never();
    let srv = TestServer::start(mocks);
    let body = json!({
        "startsAt": "2999-01-01T19:00:00Z",
        "seats": [
            {"number": "A-1", "grade": "R", "price": 1000},
            {"number": "A-2", "grade": "VIP", "price": SEAT_PRICE_MAX.won() + 1}
        ]
    });

    // Act
    let res = srv
        .client
        .post(srv.url("/api/v1/admin/concerts/1/schedules"))
        .bearer_auth(ADMIN_KEY)
        .json(&body)
        .send()
        .await
        .expect("request");

    // Assert
    let problem = problem(res, 400, "VALIDATION_FAILED").await;
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("A-2") && d.contains("price")),
        "{problem}"
    );
}

#[actix_web::test]
async fn the_demo_sign_in_exists_only_when_enabled() {
    // Arrange
    let on = TestServer::start(Mocks::new());
    let off = TestServer::start_with(Mocks::new(), |c| c.demo_sign_in = false);
    let sign_in = |srv: &TestServer| {
        srv.client
            .post(srv.url("/api/v1/demo/sign-in"))
            .json(&json!({"userId": 5}))
            .send()
    };

    // Act
    let minted: Value = sign_in(&on)
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let refused = sign_in(&off).await.expect("request");
    let doc_on: Value = on
        .client
        .get(on.url("/api-docs/openapi.json"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let doc_off: Value = off
        .client
        .get(off.url("/api-docs/openapi.json"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");

    // Assert
    let token = minted["accessToken"].as_str().expect("token");
    let state = adapters_http::auth::AuthState::new(SECRET, ADMIN_KEY, &JwtRules::default());
    assert_eq!(state.verify_jwt(token), Ok(UserId::new(5).expect("id")));
    problem(refused, 404, "NOT_FOUND").await;
    let op = &doc_on["paths"]["/api/v1/demo/sign-in"]["post"];
    assert_eq!(op["operationId"], "demoSignIn");
    assert!(op["responses"]["201"].is_object());
    assert!(op["responses"]["400"].is_object());
    assert!(op
        .get("security")
        .is_none_or(|s| s.as_array().is_some_and(Vec::is_empty)));
    let request = &doc_on["components"]["schemas"]["DemoSignInRequest"];
    assert_eq!(request["additionalProperties"], false);
    assert_eq!(request["properties"]["userId"]["minimum"], 1);
    assert!(doc_off["paths"].get("/api/v1/demo/sign-in").is_none());
    assert!(doc_off["paths"]["/api/v1/wallet"].is_object());
}
