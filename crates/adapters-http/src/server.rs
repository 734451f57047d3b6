//! Wiring: the actix application (routes, extractor configuration, middleware, OpenAPI and
//! Swagger UI) and the HTTP server around it.

use crate::auth::{AuthState, JwtRules};
use crate::cors::CorsPolicy;
use crate::errors::{ApiError, PROBLEM_JSON};
use crate::metrics::{method_label, Metrics, UNMATCHED_ROUTE};
use crate::openapi::{self, SPEC_PATH, SWAGGER_FILES, SWAGGER_INDEX_HTML, SWAGGER_UI_PATH};
use crate::routes;
use crate::routes::demo::DemoSignIn;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Server, Service, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::error::JsonPayloadError;
use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, HttpServer, ResponseError};
use application::Services;
use paperclip::actix::{web, HttpResponseWrapper, OpenApiExt};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a graceful stop waits for in-flight requests.
pub const SHUTDOWN_TIMEOUT_SECS: u64 = 10;

/// The HTTP adapter's settings.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// HS256 secret user JWTs are verified with.
    pub jwt_secret: String,
    /// The `iss` and `aud` user JWTs must carry (each checked only when set).
    pub jwt_rules: JwtRules,
    /// The operator key of `/api/v1/admin/*`.
    pub admin_api_key: String,
    /// Largest accepted request body (65536 by the contract); larger is 413.
    pub body_limit_bytes: usize,
    /// Longest time to receive a request's head, and to answer it once received (an answer
    /// not ready by then is 503 `SERVICE_UNAVAILABLE`). Zero disables both.
    pub request_timeout: Duration,
    /// Whether `POST /api/v1/demo/sign-in` exists (it mints a token for any user: only for
    /// demos). When false the path is unknown (404) and absent from the OpenAPI document.
    pub demo_sign_in: bool,
    /// Which origins' pages may call the API from a browser.
    pub cors: CorsPolicy,
}

/// What every worker's application shares.
#[derive(Clone)]
struct Shared {
    services: web::Data<Services>,
    metrics: web::Data<Metrics>,
    auth: web::Data<AuthState>,
    body_limit: usize,
    request_timeout: Duration,
    /// The demo sign-in's signing material, when it is enabled.
    demo: Option<web::Data<DemoSignIn>>,
    cors: CorsPolicy,
}

impl Shared {
    /// What every worker shares, from the adapter's settings.
    fn new(services: Services, config: &HttpConfig, metrics: Metrics) -> Self {
        Self {
            services: web::Data::new(services),
            metrics: web::Data::new(metrics),
            auth: web::Data::new(AuthState::new(
                &config.jwt_secret,
                &config.admin_api_key,
                &config.jwt_rules,
            )),
            body_limit: config.body_limit_bytes,
            request_timeout: config.request_timeout,
            demo: config.demo_sign_in.then(|| {
                web::Data::new(DemoSignIn::new(
                    config.jwt_secret.clone(),
                    config.jwt_rules.clone(),
                ))
            }),
            cors: config.cors.clone(),
        }
    }
}

/// The OpenAPI document a server built with `services` and `config` serves at [`SPEC_PATH`],
/// asked of the very same application in-process (no socket): what the checked-in
/// `docs/openapi.json` is generated from.
///
/// # Errors
/// When the application does not answer the document with 200 and JSON (a wiring bug).
pub async fn openapi_document(
    services: Services,
    config: &HttpConfig,
) -> Result<serde_json::Value, String> {
    let shared = Shared::new(services, config, Metrics::new());
    let app = actix_web::test::init_service(build_app(&shared)).await;
    let request = actix_web::test::TestRequest::get()
        .uri(SPEC_PATH)
        .to_request();
    let response = actix_web::test::call_service(&app, request).await;
    let status = response.status();
    let body = actix_web::test::read_body(response).await;
    if status != StatusCode::OK {
        return Err(format!("{SPEC_PATH} answered {status}"));
    }
    serde_json::from_slice(&body).map_err(|e| format!("{SPEC_PATH} is not JSON: {e}"))
}

/// Builds the HTTP server on an already bound listener, with `workers` workers. The server
/// does not install signal handlers: the caller stops it with `server.handle().stop(true)`,
/// which drains in-flight requests for up to [`SHUTDOWN_TIMEOUT_SECS`].
///
/// # Errors
/// When the listener cannot be used.
pub fn build_server(
    services: Services,
    config: HttpConfig,
    metrics: Metrics,
    listener: TcpListener,
    workers: usize,
) -> std::io::Result<Server> {
    let shared = Shared::new(services, &config, metrics);
    let server = HttpServer::new(move || build_app(&shared))
        .workers(workers.max(1))
        .disable_signals()
        .shutdown_timeout(SHUTDOWN_TIMEOUT_SECS)
        .client_request_timeout(config.request_timeout)
        .listen(listener)?
        .run();
    Ok(server)
}

/// The 413/415/400 problem of a JSON body that could not be read.
fn json_error(err: &JsonPayloadError) -> ApiError {
    match err {
        JsonPayloadError::ContentType => ApiError::UnsupportedMediaType,
        e if e.status_code() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        JsonPayloadError::Deserialize(e) => ApiError::Validation(format!("invalid JSON body: {e}")),
        e => ApiError::Validation(format!("invalid request body: {e}")),
    }
}

/// Answers 404 for a Swagger UI file that does not exist (instead of a worker panic).
struct UnknownSwaggerFile;

impl actix_web::guard::Guard for UnknownSwaggerFile {
    fn check(&self, ctx: &actix_web::guard::GuardContext<'_>) -> bool {
        let path = ctx.head().uri.path();
        path.strip_prefix("/swagger-ui/")
            .is_some_and(|file| !file.is_empty() && !SWAGGER_FILES.contains(&file))
    }
}

/// A CORS preflight: `OPTIONS` with `Access-Control-Request-Method`.
fn is_preflight(req: &actix_web::HttpRequest) -> bool {
    req.method() == actix_web::http::Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// Rewrites any error answer without a problem body (actix's own 404/405/413…) into one.
fn ensure_problem(res: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_JSON));
    if is_problem {
        return res;
    }
    let (req, old) = res.into_parts();
    let error = if status == StatusCode::BAD_REQUEST && is_preflight(&req) {
        ApiError::Validation(
            "CORS preflight refused: the origin, method or request headers are not allowed"
                .to_owned(),
        )
    } else {
        ApiError::from_status(status)
    };
    if error == ApiError::Internal {
        tracing::error!(%status, "unhandled error answer");
    }
    let mut new = error.error_response();
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            new.headers_mut().insert(name.clone(), value.clone());
        }
    }
    ServiceResponse::new(req, new)
}

/// The complete application of one worker.
fn build_app(
    shared: &Shared,
) -> actix_web::App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let body_limit = shared.body_limit;
    let limits = openapi::DocLimits::from_settings(shared.services.settings());
    let demo = shared.demo.clone();
    let api =
        actix_web::App::new()
            .wrap_api_with_spec(openapi::base_spec())
            .app_data(shared.services.clone())
            .app_data(shared.metrics.clone())
            .app_data(shared.auth.clone())
            .app_data(
                web::JsonConfig::default()
                    .limit(body_limit)
                    .error_handler(|err, _| json_error(&err).into()),
            )
            .app_data(web::PayloadConfig::default().limit(body_limit))
            .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::not_found().into()))
            .app_data(web::QueryConfig::default().error_handler(|err, _| {
                ApiError::Validation(format!("invalid query: {err}")).into()
            }))
            .configure(routes::configure)
            .configure(|cfg| {
                if let Some(demo) = demo {
                    cfg.app_data(demo);
                    routes::demo::configure(cfg);
                }
            })
            .with_raw_json_spec_v3(|app, spec| {
                let doc = Arc::new(openapi::finish_v3(spec, limits));
                app.service(web::resource(SPEC_PATH).route(web::get().to(move || {
                    let doc = Arc::clone(&doc);
                    async move { HttpResponseWrapper(HttpResponse::Ok().json(&*doc)) }
                })))
            })
            .service(
                web::resource(&format!("{SWAGGER_UI_PATH}/")).route(web::get().to(|| async {
                    HttpResponseWrapper(
                        HttpResponse::Ok()
                            .content_type("text/html; charset=utf-8")
                            .body(SWAGGER_INDEX_HTML),
                    )
                })),
            )
            .service(
                web::resource(&format!("{SWAGGER_UI_PATH}/{{file:.*}}"))
                    .guard(UnknownSwaggerFile)
                    .route(web::get().to(|| async {
                        HttpResponseWrapper(ApiError::not_found().error_response())
                    })),
            )
            .with_json_spec_v3_at(SPEC_PATH)
            .with_swagger_ui_at(SWAGGER_UI_PATH)
            .default_service(actix_web::web::to(|| async {
                ApiError::NotFound("no such path".into()).error_response()
            }));

    let metrics = shared.metrics.clone();
    let timeout = if shared.request_timeout.is_zero() {
        Duration::MAX
    } else {
        shared.request_timeout
    };
    api.build()
        // The web client's files, outside the OpenAPI document (they are not API).
        .configure(crate::web_client::configure)
        // Innermost: a handler that takes too long is answered 503.
        .wrap_fn(move |req, srv| {
            let fut = srv.call(req);
            async move {
                match actix_web::rt::time::timeout(timeout, fut).await {
                    Ok(res) => res,
                    Err(_) => {
                        tracing::warn!("request timed out");
                        Err(ApiError::ServiceUnavailable.into())
                    }
                }
            }
        })
        // CORS headers on every answer, errors included (the timeout's too, through its error's
        // response mapper); preflights are answered here, before routing could make them 404 or
        // 405. Inside the next layer, so a refused preflight becomes a problem too.
        .wrap(shared.cors.middleware())
        // Every error answer becomes problem+json, whoever produced it.
        // (An `Err` from inside, only the timeout's, already renders as a problem.)
        .wrap_fn(|req, srv| {
            let fut = srv.call(req);
            async move { Ok(ensure_problem(fut.await?.map_into_boxed_body())) }
        })
        // Request count and latency by matched route pattern.
        .wrap_fn(move |req, srv| {
            let started = Instant::now();
            let method = method_label(req.method().as_str());
            let metrics = metrics.clone();
            let fut = srv.call(req);
            async move {
                let res = match fut.await {
                    Ok(res) => res,
                    Err(e) => {
                        let status = e.as_response_error().status_code().as_u16();
                        metrics.observe_request(UNMATCHED_ROUTE, method, status, started.elapsed());
                        return Err(e);
                    }
                };
                let route = res
                    .request()
                    .match_pattern()
                    .unwrap_or_else(|| UNMATCHED_ROUTE.to_owned());
                metrics.observe_request(&route, method, res.status().as_u16(), started.elapsed());
                Ok(res)
            }
        })
        // Outermost: a span per request, with a request id.
        .wrap(tracing_actix_web::TracingLogger::default())
}
