//! Operations endpoints (no auth): health probes and metrics.

use crate::dto::HealthDto;
use crate::errors::ApiError;
use crate::metrics::Metrics;
use actix_web::HttpResponse;
use application::Services;
use paperclip::actix::api_v2_operation;
use paperclip::actix::web::{self, ServiceConfig};

/// Liveness probe
///
/// 200 while the process runs.
#[api_v2_operation(tags(Operations), operation_id = "live")]
pub async fn live() -> Result<web::Json<HealthDto>, ApiError> {
    Ok(web::Json(HealthDto { status: "ok" }))
}

/// Readiness probe
///
/// 200 when the store answers, else 503 SERVICE_UNAVAILABLE.
#[api_v2_operation(tags(Operations), operation_id = "ready")]
pub async fn ready(services: web::Data<Services>) -> Result<web::Json<HealthDto>, ApiError> {
    match services.ports().health.ping().await {
        Ok(()) => Ok(web::Json(HealthDto { status: "ready" })),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err(ApiError::ServiceUnavailable)
        }
    }
}

/// Prometheus metrics
///
/// The Prometheus text format. Queue gauges are refreshed from the store at scrape time.
#[api_v2_operation(tags(Operations), operation_id = "metrics", produces = "text/plain")]
pub async fn metrics(
    services: web::Data<Services>,
    metrics: web::Data<Metrics>,
) -> Result<HttpResponse, ApiError> {
    match services
        .ports()
        .queue
        .all_stats(services.settings().queue)
        .await
    {
        Ok(stats) => metrics.set_queue_stats(&stats),
        Err(e) => tracing::warn!(error = %e, "queue gauges not refreshed"),
    }
    Ok(HttpResponse::Ok()
        .content_type(prometheus::TEXT_FORMAT)
        .body(metrics.render()))
}

/// Registers the operations routes.
pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(web::resource("/health/live").route(web::get().to(live)));
    cfg.service(web::resource("/health/ready").route(web::get().to(ready)));
    cfg.service(web::resource("/metrics").route(web::get().to(metrics)));
}
