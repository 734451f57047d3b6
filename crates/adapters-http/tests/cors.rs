//! CORS as a browser on another origin sees it: the real server over mocked ports, on port 0,
//! in each mode of `CORS_ALLOWED_ORIGINS` (any origin, a list, none).

use adapters_http::{build_server, CorsPolicy, HttpConfig, JwtRules, Metrics};
use application::{JoinRateLimit, JoinRateLimiter, Ports, Services, Settings, SystemClock};
use domain::ports::{
    MockCatalogueStore, MockQueueStore, MockReservationStore, MockStoreHealth, MockWaitlistStore,
    MockWalletStore,
};
use domain::{HoldPolicy, QueuePolicy, StoreError, WalletPolicy};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

const PAGE: &str = "http://localhost:5173";
const OTHER: &str = "https://evil.example";

/// Services whose store is down (readiness answers 503) and is never otherwise called.
fn services() -> Services {
    let s = Duration::from_secs;
    let mut health = MockStoreHealth::new();
    health
        .expect_ping()
        .returning(|| Err(StoreError::Unavailable("down".into())));
    let ports = Ports {
        catalogue: Arc::new(MockCatalogueStore::new()),
        queue: Arc::new(MockQueueStore::new()),
        reservations: Arc::new(MockReservationStore::new()),
        wallets: Arc::new(MockWalletStore::new()),
        waitlist: Arc::new(MockWaitlistStore::new()),
        health: Arc::new(health),
        clock: Arc::new(SystemClock),
        ids: Arc::new(application::UuidV7Generator),
    };
    let settings = Settings {
        queue: QueuePolicy::new(100, 1000, s(1), s(600), s(300)).expect("queue policy"),
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

/// A running server with `cors`, and a client for it.
struct Server {
    base: String,
    client: reqwest::Client,
}

impl Server {
    fn start(cors: CorsPolicy) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let config = HttpConfig {
            jwt_secret: "test-secret".to_owned(),
            jwt_rules: JwtRules::default(),
            admin_api_key: "test-admin-key".to_owned(),
            body_limit_bytes: 65_536,
            request_timeout: Duration::from_secs(10),
            demo_sign_in: true,
            cors,
        };
        let server = build_server(services(), config, Metrics::new(), listener, 1).expect("server");
        actix_web::rt::spawn(server);
        Self {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
        }
    }

    /// A preflight from `origin` for `method` with `headers` (comma-separated, may be empty).
    async fn preflight(
        &self,
        origin: &str,
        path: &str,
        method: &str,
        headers: &str,
    ) -> reqwest::Response {
        let mut req = self
            .client
            .request(Method::OPTIONS, format!("{}{path}", self.base))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", method);
        if !headers.is_empty() {
            req = req.header("Access-Control-Request-Headers", headers);
        }
        req.send().await.expect("preflight")
    }

    /// A GET from a page on `origin`.
    async fn get(&self, origin: &str, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .header("Origin", origin)
            .send()
            .await
            .expect("request")
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The comma-separated items of a header, lowercased.
fn items(headers: &HeaderMap, name: &str) -> Vec<String> {
    header(headers, name)
        .unwrap_or_default()
        .split(',')
        .map(|i| i.trim().to_ascii_lowercase())
        .filter(|i| !i.is_empty())
        .collect()
}

/// Asserts a CORS-readable answer for a page on `allowed` (`*` or the page's origin).
fn assert_readable(headers: &HeaderMap, allowed: &str) {
    assert_eq!(
        header(headers, "access-control-allow-origin").as_deref(),
        Some(allowed)
    );
    let exposed = items(headers, "access-control-expose-headers");
    for name in ["retry-after", "idempotent-replayed"] {
        assert!(exposed.contains(&name.to_owned()), "{name} in {exposed:?}");
    }
    assert!(header(headers, "access-control-allow-credentials").is_none());
}

async fn assert_problem(res: reqwest::Response, status: StatusCode, code: &str) {
    assert_eq!(res.status(), status);
    assert_eq!(
        header(res.headers(), "content-type").as_deref(),
        Some("application/problem+json")
    );
    let body: serde_json::Value = res.json().await.expect("problem body");
    assert_eq!(body["code"], code, "{body}");
}

#[actix_web::test]
async fn a_preflight_allows_every_contract_header_and_method() {
    // Arrange
    let srv = Server::start(CorsPolicy::any_origin());
    let contract = [
        "authorization",
        "queue-token",
        "idempotency-key",
        "content-type",
    ];

    for name in contract {
        // Act
        let res = srv
            .preflight(PAGE, "/api/v1/wallet/charges", "POST", name)
            .await;

        // Assert
        assert_eq!(res.status(), StatusCode::OK, "{name}");
        assert_eq!(
            header(res.headers(), "access-control-allow-origin").as_deref(),
            Some("*")
        );
        let allowed = items(res.headers(), "access-control-allow-headers");
        assert!(allowed.contains(&name.to_owned()), "{name} in {allowed:?}");
    }
    for method in ["GET", "POST", "PATCH", "DELETE"] {
        let res = srv
            .preflight(PAGE, "/api/v1/reservations/x", method, &contract.join(", "))
            .await;
        assert_eq!(res.status(), StatusCode::OK, "{method}");
        let methods = items(res.headers(), "access-control-allow-methods");
        assert!(
            methods.contains(&method.to_ascii_lowercase()),
            "{methods:?}"
        );
        assert_eq!(
            items(res.headers(), "access-control-allow-headers").len(),
            4
        );
        assert_eq!(
            header(res.headers(), "access-control-max-age").as_deref(),
            Some("3600")
        );
    }
}

#[actix_web::test]
async fn a_preflight_for_another_method_or_header_is_refused_without_a_server_error() {
    // Arrange
    let srv = Server::start(CorsPolicy::any_origin());

    // Act
    let put = srv.preflight(PAGE, "/api/v1/wallet", "PUT", "").await;
    let custom = srv
        .preflight(PAGE, "/api/v1/wallet", "GET", "authorization, x-custom")
        .await;

    // Assert
    assert!(header(put.headers(), "access-control-allow-origin").is_none());
    assert_problem(put, StatusCode::BAD_REQUEST, "VALIDATION_FAILED").await;
    assert!(header(custom.headers(), "access-control-allow-origin").is_none());
    assert_problem(custom, StatusCode::BAD_REQUEST, "VALIDATION_FAILED").await;
}

#[actix_web::test]
async fn any_origin_reads_answers_and_problems_with_the_exposed_headers() {
    // Arrange
    let srv = Server::start(CorsPolicy::any_origin());

    // Act
    let ok = srv.get(PAGE, "/health/live").await;
    let unauthenticated = srv.get(OTHER, "/api/v1/wallet").await;
    let unknown = srv.get(PAGE, "/api/v1/nowhere").await;
    let unavailable = srv.get(PAGE, "/health/ready").await;

    // Assert
    assert_eq!(ok.status(), StatusCode::OK);
    assert_readable(ok.headers(), "*");
    for (res, status, code) in [
        (unauthenticated, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"),
        (unknown, StatusCode::NOT_FOUND, "NOT_FOUND"),
        (
            unavailable,
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
        ),
    ] {
        assert_readable(res.headers(), "*");
        assert_problem(res, status, code).await;
    }
}

#[actix_web::test]
async fn a_list_allows_only_its_origins() {
    // Arrange
    let srv = Server::start(
        CorsPolicy::parse(&format!("https://app.example.com,{PAGE}")).expect("valid"),
    );

    // Act
    let listed = srv
        .preflight(PAGE, "/api/v1/wallet", "GET", "authorization")
        .await;
    let refused = srv
        .preflight(OTHER, "/api/v1/wallet", "GET", "authorization")
        .await;
    let listed_error = srv.get(PAGE, "/api/v1/wallet").await;
    let unlisted_get = srv.get(OTHER, "/health/live").await;

    // Assert
    assert_eq!(listed.status(), StatusCode::OK);
    assert_eq!(
        header(listed.headers(), "access-control-allow-origin").as_deref(),
        Some(PAGE)
    );
    assert!(items(listed.headers(), "vary").contains(&"origin".to_owned()));
    assert!(header(refused.headers(), "access-control-allow-origin").is_none());
    assert_problem(refused, StatusCode::BAD_REQUEST, "VALIDATION_FAILED").await;
    assert_readable(listed_error.headers(), PAGE);
    assert_problem(listed_error, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED").await;
    assert_eq!(
        unlisted_get.status(),
        StatusCode::OK,
        "served, only unreadable to the page"
    );
    assert!(header(unlisted_get.headers(), "access-control-allow-origin").is_none());
}

#[actix_web::test]
async fn with_no_origin_allowed_there_are_no_cors_headers_and_preflights_are_refused() {
    // Arrange
    let srv = Server::start(CorsPolicy::none());

    // Act
    let preflight = srv
        .preflight(PAGE, "/api/v1/wallet", "GET", "authorization")
        .await;
    let get = srv.get(PAGE, "/health/live").await;
    let no_origin = srv
        .client
        .get(format!("{}/health/live", srv.base))
        .send()
        .await
        .expect("request");

    // Assert
    assert!(header(preflight.headers(), "access-control-allow-origin").is_none());
    assert_problem(preflight, StatusCode::BAD_REQUEST, "VALIDATION_FAILED").await;
    assert_eq!(get.status(), StatusCode::OK);
    assert!(header(get.headers(), "access-control-allow-origin").is_none());
    assert_eq!(no_origin.status(), StatusCode::OK);
}

#[actix_web::test]
async fn an_options_request_that_is_not_a_preflight_is_routed_as_before() {
    // Arrange
    let srv = Server::start(CorsPolicy::any_origin());

    // Act
    let res = srv
        .client
        .request(Method::OPTIONS, format!("{}/api/v1/wallet", srv.base))
        .header("Origin", PAGE)
        .send()
        .await
        .expect("request");

    // Assert
    assert_readable(res.headers(), "*");
    assert_problem(res, StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED").await;
}
