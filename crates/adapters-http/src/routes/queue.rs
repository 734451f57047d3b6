//! The waiting queue: join, poll, leave.

use crate::auth::AuthenticatedUser;
use crate::dto::QueueTicketDto;
use crate::errors::ApiError;
use crate::headers::QueueTokenHeader;
use crate::metrics::Metrics;
use crate::responses::{CreatedOrExisting, NoContent};
use crate::routes::concert_id;
use application::Services;
use paperclip::actix::api_v2_operation;
use paperclip::actix::web::{self, ServiceConfig};

/// Join a concert's waiting line
///
/// 201 with a new token, or 200 with the caller's live (waiting or active) token for that
/// concert: one place in line per user and concert. Joins are rate-limited per user
/// (429 RATE_LIMITED with Retry-After). Unknown concert: 404 NOT_FOUND.
#[api_v2_operation(tags(Queue), operation_id = "joinQueue")]
pub async fn join_queue(
    services: web::Data<Services>,
    metrics: web::Data<Metrics>,
    user: AuthenticatedUser,
    path: web::Path<i64>,
) -> Result<CreatedOrExisting<QueueTicketDto>, ApiError> {
    let concert = concert_id(path.into_inner())?;
    let outcome = services.join_queue(user.0, concert).await?;
    if outcome.created {
        metrics.record_queue_join();
    }
    Ok(CreatedOrExisting {
        body: QueueTicketDto::from(&outcome.ticket),
        created: outcome.created,
    })
}

/// Read the caller's place in line
///
/// Polling keeps a waiting place alive. Missing, malformed or unknown Queue-Token: 401
/// QUEUE_TOKEN_REQUIRED; another user's token: 403 QUEUE_TOKEN_NOT_ACTIVE.
#[api_v2_operation(tags(Queue), operation_id = "currentQueueToken")]
pub async fn current_ticket(
    services: web::Data<Services>,
    user: AuthenticatedUser,
    token: QueueTokenHeader,
) -> Result<web::Json<QueueTicketDto>, ApiError> {
    let ticket = services.current_ticket(user.0, token.0).await?;
    Ok(web::Json(QueueTicketDto::from(&ticket)))
}

/// Leave the line
///
/// Leaves the queue or frees the active slot (204). Leaving with an expired token succeeds.
#[api_v2_operation(tags(Queue), operation_id = "leaveQueue")]
pub async fn leave_queue(
    services: web::Data<Services>,
    user: AuthenticatedUser,
    token: QueueTokenHeader,
) -> Result<NoContent, ApiError> {
    services.leave_queue(user.0, token.0).await?;
    Ok(NoContent)
}

/// Registers the queue routes.
pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(
        web::resource("/api/v1/concerts/{concertId}/queue-tokens")
            .route(web::post().to(join_queue)),
    );
    cfg.service(
        web::resource("/api/v1/queue-tokens/current")
            .route(web::get().to(current_ticket))
            .route(web::delete().to(leave_queue)),
    );
}
