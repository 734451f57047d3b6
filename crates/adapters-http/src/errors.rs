//! The one error type of the HTTP adapter. Every domain error variant maps to exactly one
//! contract code and status; every 4xx/5xx body is an RFC 9457 `application/problem+json`
//! document with a stable `code` member.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use domain::{
    AdminQueueError, BrowseError, CancelError, ChargeError, CreateScheduleError, HoldSeatsError,
    JoinQueueError, JoinWaitlistError, PayError, QueueAccessError, QueueTokenError, RefundError,
    ReservationReadError, SalePatchRefused, StoreError, UpdateSaleError, WaitlistCountsError,
    WaitlistEntryError,
};
use paperclip::actix::Apiv2Schema;
use paperclip::v2::models::{DefaultOperationRaw, DefaultSchemaRaw, Either, Response};
use paperclip::v2::schema::{Apiv2Errors, Apiv2Schema as _};
use serde::Serialize;
use std::collections::BTreeMap;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem document, as sent for every 4xx and 5xx answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, Apiv2Schema)]
pub struct Problem {
    /// Always `about:blank`: the `code` member tells the problems apart.
    #[serde(rename = "type")]
    pub type_: String,
    /// A short human-readable summary of the status.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// The stable, machine-readable error code (see the API contract).
    pub code: String,
    /// A human-readable explanation of this occurrence; never internal details.
    pub detail: String,
}

/// Everything that can go wrong in a request, already in the contract's terms. The variants
/// that stand for a domain error carry that error's text (its `Display`) as the problem's
/// `detail`; only the adapter's own failures (authentication, headers, bodies, the store being
/// down) word their detail here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 401: missing, malformed, badly signed or expired JWT.
    #[error("a valid bearer token is required")]
    Unauthenticated,
    /// 401: a queue-guarded endpoint called without a valid `Queue-Token`.
    #[error("{0}")]
    QueueTokenRequired(String),
    /// 403: the queue token is waiting, expired, or another user's or concert's.
    #[error("{0}")]
    QueueTokenNotActive(String),
    /// 401: an operator endpoint without the operator key (missing, or neither the key nor a
    /// user JWT).
    #[error("this operation requires the operator key")]
    OperatorKeyRequired,
    /// 403: an operator endpoint called with a user JWT: the caller is known, not an operator.
    #[error(
        "a user token does not grant operator access; this operation requires the operator key"
    )]
    Forbidden,
    /// 404: unknown resource or path, or someone else's.
    #[error("{0}")]
    NotFound(String),
    /// 400: malformed or out-of-range input.
    #[error("{0}")]
    Validation(String),
    /// 409: at least one seat is held or sold.
    #[error("{0}")]
    SeatUnavailable(String),
    /// 409: the user would hold more seats than allowed.
    #[error("{0}")]
    HoldLimitExceeded(String),
    /// 409: joining a date's waiting list while it has an available seat (v1.1).
    #[error("{0}")]
    SeatsAvailable(String),
    /// 409: the reservation is expired, cancelled or already paid.
    #[error("{0}")]
    ReservationNotPayable(String),
    /// 409: only a HELD reservation can be cancelled.
    #[error("{0}")]
    ReservationNotCancellable(String),
    /// 409: only a CONFIRMED reservation can be refunded.
    #[error("{0}")]
    ReservationNotRefundable(String),
    /// 409: the schedule starts within the refund cut-off.
    #[error("{0}")]
    RefundWindowClosed(String),
    /// 409: the wallet cannot cover the price.
    #[error("{0}")]
    InsufficientBalance(String),
    /// 422: the charge would take the balance over the maximum.
    #[error("{0}")]
    BalanceLimitExceeded(String),
    /// 400: charge or payment without an `Idempotency-Key`.
    #[error("the Idempotency-Key header is required")]
    IdempotencyKeyRequired,
    /// 422: the key was used before with another request.
    #[error("{0}")]
    IdempotencyKeyReused(String),
    /// 409: a request with the same key is still being processed.
    #[error("{0}")]
    IdempotencyKeyInUse(String),
    /// 413: a body over the limit.
    #[error("the request body is too large")]
    PayloadTooLarge,
    /// 415: a body that is not `application/json`.
    #[error("the request body must be application/json")]
    UnsupportedMediaType,
    /// 405: a known path with another method.
    #[error("this method is not allowed on this path")]
    MethodNotAllowed,
    /// 409: joining after the concert's sale closed.
    #[error("{0}")]
    SaleClosed(String),
    /// 409: moving the sale's opening after the draw.
    #[error("{0}")]
    SaleAlreadyOpen(String),
    /// 429: too many requests; retry after the given seconds.
    #[error("{detail}")]
    RateLimited {
        /// Seconds until a retry may succeed.
        retry_after_secs: u64,
        /// What was limited.
        detail: String,
    },
    /// 503: the store cannot be reached.
    #[error("the service is temporarily unavailable")]
    ServiceUnavailable,
    /// 500: anything else (the cause was logged where it happened).
    #[error("an internal error occurred")]
    Internal,
}

impl ApiError {
    /// The stable contract code.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated | Self::OperatorKeyRequired => "UNAUTHENTICATED",
            Self::QueueTokenRequired(_) => "QUEUE_TOKEN_REQUIRED",
            Self::QueueTokenNotActive(_) => "QUEUE_TOKEN_NOT_ACTIVE",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound(_) => "NOT_FOUND",
            Self::Validation(_) => "VALIDATION_FAILED",
            Self::SeatUnavailable(_) => "SEAT_UNAVAILABLE",
            Self::HoldLimitExceeded(_) => "HOLD_LIMIT_EXCEEDED",
            Self::SeatsAvailable(_) => "SEATS_AVAILABLE",
            Self::ReservationNotPayable(_) => "RESERVATION_NOT_PAYABLE",
            Self::ReservationNotCancellable(_) => "RESERVATION_NOT_CANCELLABLE",
            Self::ReservationNotRefundable(_) => "RESERVATION_NOT_REFUNDABLE",
            Self::RefundWindowClosed(_) => "REFUND_WINDOW_CLOSED",
            Self::InsufficientBalance(_) => "INSUFFICIENT_BALANCE",
            Self::BalanceLimitExceeded(_) => "BALANCE_LIMIT_EXCEEDED",
            Self::IdempotencyKeyRequired => "IDEMPOTENCY_KEY_REQUIRED",
            Self::IdempotencyKeyReused(_) => "IDEMPOTENCY_KEY_REUSED",
            Self::IdempotencyKeyInUse(_) => "IDEMPOTENCY_KEY_IN_USE",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::SaleClosed(_) => "SALE_CLOSED",
            Self::SaleAlreadyOpen(_) => "SALE_ALREADY_OPEN",
            Self::RateLimited { .. } => "RATE_LIMITED",
            Self::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            Self::Internal => "INTERNAL",
        }
    }

    /// The HTTP status.
    #[must_use]
    pub const fn status(&self) -> StatusCode {
        match self {
            Self::Unauthenticated | Self::OperatorKeyRequired | Self::QueueTokenRequired(_) => {
                StatusCode::UNAUTHORIZED
            }
            Self::QueueTokenNotActive(_) | Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Validation(_) | Self::IdempotencyKeyRequired => StatusCode::BAD_REQUEST,
            Self::SeatUnavailable(_)
            | Self::HoldLimitExceeded(_)
            | Self::SeatsAvailable(_)
            | Self::ReservationNotPayable(_)
            | Self::ReservationNotCancellable(_)
            | Self::ReservationNotRefundable(_)
            | Self::RefundWindowClosed(_)
            | Self::InsufficientBalance(_)
            | Self::IdempotencyKeyInUse(_)
            | Self::SaleClosed(_)
            | Self::SaleAlreadyOpen(_) => StatusCode::CONFLICT,
            Self::BalanceLimitExceeded(_) | Self::IdempotencyKeyReused(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A generic "not found".
    #[must_use]
    pub fn not_found() -> Self {
        Self::NotFound("the resource was not found".to_owned())
    }

    /// A validation failure with the given explanation.
    #[must_use]
    pub fn validation(detail: impl Into<String>) -> Self {
        Self::Validation(detail.into())
    }

    /// The problem document of this error.
    #[must_use]
    pub fn problem(&self) -> Problem {
        let status = self.status();
        Problem {
            type_: "about:blank".to_owned(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            code: self.code().to_owned(),
            detail: self.to_string(),
        }
    }

    /// The error a bare status (produced by actix itself, without a problem body) stands for.
    #[must_use]
    pub fn from_status(status: StatusCode) -> Self {
        match status {
            StatusCode::UNAUTHORIZED => Self::Unauthenticated,
            StatusCode::FORBIDDEN => Self::Forbidden,
            StatusCode::NOT_FOUND => Self::not_found(),
            StatusCode::METHOD_NOT_ALLOWED => Self::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::UnsupportedMediaType,
            StatusCode::TOO_MANY_REQUESTS => Self::RateLimited {
                retry_after_secs: 1,
                detail: "too many requests; retry after 1 s".to_owned(),
            },
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => {
                Self::ServiceUnavailable
            }
            s if s.is_client_error() => Self::validation("the request could not be processed"),
            _ => Self::Internal,
        }
    }
}

/// Logs a store failure once, where it is turned into an answer, and hides its text.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(cause) => {
                tracing::warn!(%cause, "store unavailable");
                Self::ServiceUnavailable
            }
            StoreError::Internal(cause) => {
                tracing::error!(%cause, "store failure");
                Self::Internal
            }
        }
    }
}

impl From<QueueAccessError> for ApiError {
    fn from(e: QueueAccessError) -> Self {
        let detail = e.to_string();
        match e {
            QueueAccessError::TokenRequired => Self::QueueTokenRequired(detail),
            QueueAccessError::NotActive => Self::QueueTokenNotActive(detail),
        }
    }
}

impl From<CreateScheduleError> for ApiError {
    fn from(e: CreateScheduleError) -> Self {
        match e {
            CreateScheduleError::ConcertNotFound => Self::NotFound(e.to_string()),
            CreateScheduleError::Store(s) => s.into(),
        }
    }
}

impl From<BrowseError> for ApiError {
    fn from(e: BrowseError) -> Self {
        match e {
            BrowseError::NotFound => Self::NotFound(e.to_string()),
            BrowseError::Access(a) => a.into(),
            BrowseError::Store(s) => s.into(),
        }
    }
}

impl From<JoinQueueError> for ApiError {
    fn from(e: JoinQueueError) -> Self {
        match e {
            JoinQueueError::ConcertNotFound => Self::NotFound(e.to_string()),
            JoinQueueError::SaleClosed => Self::SaleClosed(e.to_string()),
            JoinQueueError::RateLimited { retry_after_secs } => Self::RateLimited {
                retry_after_secs,
                detail: e.to_string(),
            },
            JoinQueueError::Store(s) => s.into(),
        }
    }
}

impl From<QueueTokenError> for ApiError {
    fn from(e: QueueTokenError) -> Self {
        match e {
            QueueTokenError::Access(a) => a.into(),
            QueueTokenError::Store(s) => s.into(),
        }
    }
}

impl From<HoldSeatsError> for ApiError {
    fn from(e: HoldSeatsError) -> Self {
        match e {
            HoldSeatsError::InvalidSelection(_) => Self::Validation(e.to_string()),
            HoldSeatsError::ScheduleNotFound | HoldSeatsError::SeatNotFound(_) => {
                Self::NotFound(e.to_string())
            }
            HoldSeatsError::SeatUnavailable { .. } => Self::SeatUnavailable(e.to_string()),
            HoldSeatsError::HoldLimitExceeded { .. } => Self::HoldLimitExceeded(e.to_string()),
            HoldSeatsError::Access(a) => a.into(),
            HoldSeatsError::Store(s) => s.into(),
        }
    }
}

impl From<JoinWaitlistError> for ApiError {
    fn from(e: JoinWaitlistError) -> Self {
        match e {
            JoinWaitlistError::ScheduleNotFound => Self::NotFound(e.to_string()),
            JoinWaitlistError::SeatsAvailable => Self::SeatsAvailable(e.to_string()),
            JoinWaitlistError::Access(a) => a.into(),
            JoinWaitlistError::Store(s) => s.into(),
        }
    }
}

impl From<WaitlistEntryError> for ApiError {
    fn from(e: WaitlistEntryError) -> Self {
        match e {
            WaitlistEntryError::NotFound => Self::NotFound(e.to_string()),
            WaitlistEntryError::Store(s) => s.into(),
        }
    }
}

impl From<WaitlistCountsError> for ApiError {
    fn from(e: WaitlistCountsError) -> Self {
        match e {
            WaitlistCountsError::ScheduleNotFound => Self::NotFound(e.to_string()),
            WaitlistCountsError::Store(s) => s.into(),
        }
    }
}

impl From<ReservationReadError> for ApiError {
    fn from(e: ReservationReadError) -> Self {
        match e {
            ReservationReadError::NotFound => Self::NotFound(e.to_string()),
            ReservationReadError::Store(s) => s.into(),
        }
    }
}

impl From<CancelError> for ApiError {
    fn from(e: CancelError) -> Self {
        match e {
            CancelError::NotFound => Self::NotFound(e.to_string()),
            CancelError::NotCancellable(_) => Self::ReservationNotCancellable(e.to_string()),
            CancelError::Store(s) => s.into(),
        }
    }
}

impl From<ChargeError> for ApiError {
    fn from(e: ChargeError) -> Self {
        match e {
            ChargeError::InvalidAmount(_) => Self::Validation(e.to_string()),
            ChargeError::BalanceLimitExceeded => Self::BalanceLimitExceeded(e.to_string()),
            ChargeError::IdempotencyKeyReused => Self::IdempotencyKeyReused(e.to_string()),
            ChargeError::IdempotencyKeyInUse => Self::IdempotencyKeyInUse(e.to_string()),
            ChargeError::Store(s) => s.into(),
        }
    }
}

impl From<PayError> for ApiError {
    fn from(e: PayError) -> Self {
        match e {
            PayError::ReservationNotFound => Self::NotFound(e.to_string()),
            PayError::Access(a) => a.into(),
            PayError::NotPayable => Self::ReservationNotPayable(e.to_string()),
            PayError::InsufficientBalance => Self::InsufficientBalance(e.to_string()),
            PayError::IdempotencyKeyReused => Self::IdempotencyKeyReused(e.to_string()),
            PayError::IdempotencyKeyInUse => Self::IdempotencyKeyInUse(e.to_string()),
            PayError::Store(s) => s.into(),
        }
    }
}

impl From<RefundError> for ApiError {
    fn from(e: RefundError) -> Self {
        match e {
            RefundError::NotFound => Self::NotFound(e.to_string()),
            RefundError::NotRefundable => Self::ReservationNotRefundable(e.to_string()),
            RefundError::WindowClosed => Self::RefundWindowClosed(e.to_string()),
            RefundError::IdempotencyKeyReused => Self::IdempotencyKeyReused(e.to_string()),
            RefundError::IdempotencyKeyInUse => Self::IdempotencyKeyInUse(e.to_string()),
            RefundError::Store(s) => s.into(),
        }
    }
}

impl From<AdminQueueError> for ApiError {
    fn from(e: AdminQueueError) -> Self {
        match e {
            AdminQueueError::ConcertNotFound => Self::NotFound(e.to_string()),
            AdminQueueError::Store(s) => s.into(),
        }
    }
}

impl From<UpdateSaleError> for ApiError {
    fn from(e: UpdateSaleError) -> Self {
        match e {
            UpdateSaleError::ConcertNotFound => Self::NotFound(e.to_string()),
            UpdateSaleError::Refused(SalePatchRefused::Invalid(_)) => {
                Self::Validation(e.to_string())
            }
            UpdateSaleError::Refused(SalePatchRefused::AlreadyOpen) => {
                Self::SaleAlreadyOpen(e.to_string())
            }
            UpdateSaleError::Store(s) => s.into(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut builder = HttpResponse::build(self.status());
        builder.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
        match self {
            Self::Unauthenticated | Self::OperatorKeyRequired => {
                builder.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            // Every 401 names how to authenticate (RFC 9110 §15.5.2): here, the queue token
            // that joining a concert's queue issues, sent in the `Queue-Token` header.
            Self::QueueTokenRequired(_) => {
                builder.insert_header((header::WWW_AUTHENTICATE, QUEUE_TOKEN_CHALLENGE));
            }
            Self::RateLimited {
                retry_after_secs, ..
            } => {
                builder.insert_header((header::RETRY_AFTER, retry_after_secs.max(&1).to_string()));
            }
            Self::ServiceUnavailable => {
                builder.insert_header((header::RETRY_AFTER, "1"));
            }
            _ => {}
        }
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        builder.body(body)
    }
}

/// The challenge of a 401 `QUEUE_TOKEN_REQUIRED`: the credential is the `Queue-Token` header.
const QUEUE_TOKEN_CHALLENGE: &str = "Queue-Token realm=\"queue\"";

/// The error statuses every operation may answer with, for the OpenAPI document.
const ERROR_RESPONSES: &[(u16, &str)] = &[
    (400, "VALIDATION_FAILED (or IDEMPOTENCY_KEY_REQUIRED)"),
    (
        401,
        "UNAUTHENTICATED (with `WWW-Authenticate: Bearer`) or QUEUE_TOKEN_REQUIRED (with \
         `WWW-Authenticate: Queue-Token realm=\"queue\"`)",
    ),
    (
        403,
        "FORBIDDEN (a user JWT on an operator endpoint) or QUEUE_TOKEN_NOT_ACTIVE",
    ),
    (404, "NOT_FOUND"),
    (
        409,
        "a business-rule conflict (see the operation's description)",
    ),
    (413, "PAYLOAD_TOO_LARGE"),
    (415, "UNSUPPORTED_MEDIA_TYPE"),
    (422, "BALANCE_LIMIT_EXCEEDED or IDEMPOTENCY_KEY_REUSED"),
    (429, "RATE_LIMITED (Retry-After is set)"),
    (500, "INTERNAL"),
    (503, "SERVICE_UNAVAILABLE (Retry-After is set)"),
];

impl Apiv2Errors for ApiError {
    const ERROR_MAP: &'static [(u16, &'static str)] = ERROR_RESPONSES;

    fn update_error_definitions(op: &mut DefaultOperationRaw) {
        for (status, description) in ERROR_RESPONSES {
            let mut schema = Problem::schema_with_ref();
            schema.retain_ref();
            op.responses.insert(
                status.to_string(),
                Either::Right(Response {
                    description: Some((*description).to_owned()),
                    schema: Some(schema),
                    ..Default::default()
                }),
            );
        }
    }

    fn update_definitions(map: &mut BTreeMap<String, DefaultSchemaRaw>) {
        let mut schema = Problem::raw_schema();
        schema.remove_refs();
        map.insert("Problem".to_owned(), schema);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::{InvalidChargeAmount, InvalidSeatSelection, ReservationStatus, SeatId};

    fn seat(n: i64) -> SeatId {
        SeatId::new(n).expect("positive")
    }

    fn check(err: impl Into<ApiError>, status: u16, code: &str) {
        let err = err.into();
        assert_eq!(
            (err.status().as_u16(), err.code()),
            (status, code),
            "{err:?}"
        );
    }

    #[test]
    fn store_errors() {
        check(
            StoreError::Unavailable("db down".into()),
            503,
            "SERVICE_UNAVAILABLE",
        );
        check(StoreError::Internal("boom".into()), 500, "INTERNAL");
    }

    #[test]
    fn internal_text_never_reaches_the_body() {
        let err = ApiError::from(StoreError::Internal("SELECT secret FROM /etc/x".into()));
        let problem = err.problem();
        assert!(!problem.detail.contains("secret"));
        let err = ApiError::from(StoreError::Unavailable("pg at 10.0.0.1".into()));
        assert!(!err.problem().detail.contains("10.0.0.1"));
    }

    #[test]
    fn queue_access_errors() {
        check(QueueAccessError::TokenRequired, 401, "QUEUE_TOKEN_REQUIRED");
        check(QueueAccessError::NotActive, 403, "QUEUE_TOKEN_NOT_ACTIVE");
    }

    #[test]
    fn create_schedule_errors() {
        check(CreateScheduleError::ConcertNotFound, 404, "NOT_FOUND");
        check(
            CreateScheduleError::Store(StoreError::Internal(String::new())),
            500,
            "INTERNAL",
        );
    }

    #[test]
    fn browse_errors() {
        check(BrowseError::NotFound, 404, "NOT_FOUND");
        check(
            BrowseError::Access(QueueAccessError::TokenRequired),
            401,
            "QUEUE_TOKEN_REQUIRED",
        );
        check(
            BrowseError::Access(QueueAccessError::NotActive),
            403,
            "QUEUE_TOKEN_NOT_ACTIVE",
        );
        check(
            BrowseError::Store(StoreError::Unavailable(String::new())),
            503,
            "SERVICE_UNAVAILABLE",
        );
    }

    #[test]
    fn join_queue_errors() {
        check(JoinQueueError::ConcertNotFound, 404, "NOT_FOUND");
        check(
            JoinQueueError::RateLimited {
                retry_after_secs: 7,
            },
            429,
            "RATE_LIMITED",
        );
        check(
            JoinQueueError::Store(StoreError::Internal(String::new())),
            500,
            "INTERNAL",
        );
    }

    #[test]
    fn queue_token_errors() {
        check(
            QueueTokenError::Access(QueueAccessError::TokenRequired),
            401,
            "QUEUE_TOKEN_REQUIRED",
        );
        check(
            QueueTokenError::Access(QueueAccessError::NotActive),
            403,
            "QUEUE_TOKEN_NOT_ACTIVE",
        );
        check(
            QueueTokenError::Store(StoreError::Unavailable(String::new())),
            503,
            "SERVICE_UNAVAILABLE",
        );
    }

    #[test]
    fn hold_errors() {
        check(
            HoldSeatsError::InvalidSelection(InvalidSeatSelection::Count { max: 4 }),
            400,
            "VALIDATION_FAILED",
        );
        check(
            HoldSeatsError::InvalidSelection(InvalidSeatSelection::Duplicate(seat(1))),
            400,
            "VALIDATION_FAILED",
        );
        check(HoldSeatsError::ScheduleNotFound, 404, "NOT_FOUND");
        check(HoldSeatsError::SeatNotFound(seat(9)), 404, "NOT_FOUND");
        check(
            HoldSeatsError::SeatUnavailable {
                seats: vec![seat(1), seat(2)],
            },
            409,
            "SEAT_UNAVAILABLE",
        );
        check(
            HoldSeatsError::HoldLimitExceeded {
                would_hold: 5,
                limit: 4,
            },
            409,
            "HOLD_LIMIT_EXCEEDED",
        );
        check(
            HoldSeatsError::Access(QueueAccessError::NotActive),
            403,
            "QUEUE_TOKEN_NOT_ACTIVE",
        );
        check(
            HoldSeatsError::Access(QueueAccessError::TokenRequired),
            401,
            "QUEUE_TOKEN_REQUIRED",
        );
        check(
            HoldSeatsError::Store(StoreError::Internal(String::new())),
            500,
            "INTERNAL",
        );
    }

    #[test]
    fn reservation_read_and_cancel_errors() {
        check(ReservationReadError::NotFound, 404, "NOT_FOUND");
        check(
            ReservationReadError::Store(StoreError::Unavailable(String::new())),
            503,
            "SERVICE_UNAVAILABLE",
        );
        check(CancelError::NotFound, 404, "NOT_FOUND");
        for status in [
            ReservationStatus::Confirmed,
            ReservationStatus::Expired,
            ReservationStatus::Cancelled,
        ] {
            check(
                CancelError::NotCancellable(status),
                409,
                "RESERVATION_NOT_CANCELLABLE",
            );
        }
        check(
            CancelError::Store(StoreError::Internal(String::new())),
            500,
            "INTERNAL",
        );
    }

    #[test]
    fn charge_errors() {
        check(
            ChargeError::InvalidAmount(InvalidChargeAmount { max: 10 }),
            400,
            "VALIDATION_FAILED",
        );
        check(
            ChargeError::BalanceLimitExceeded,
            422,
            "BALANCE_LIMIT_EXCEEDED",
        );
        check(
            ChargeError::IdempotencyKeyReused,
            422,
            "IDEMPOTENCY_KEY_REUSED",
        );
        check(
            ChargeError::IdempotencyKeyInUse,
            409,
            "IDEMPOTENCY_KEY_IN_USE",
        );
        check(
            ChargeError::Store(StoreError::Unavailable(String::new())),
            503,
            "SERVICE_UNAVAILABLE",
        );
    }

    #[test]
    fn pay_errors() {
        check(PayError::ReservationNotFound, 404, "NOT_FOUND");
        check(
            PayError::Access(QueueAccessError::TokenRequired),
            401,
            "QUEUE_TOKEN_REQUIRED",
        );
        check(
            PayError::Access(QueueAccessError::NotActive),
            403,
            "QUEUE_TOKEN_NOT_ACTIVE",
        );
        check(PayError::NotPayable, 409, "RESERVATION_NOT_PAYABLE");
        check(
            RefundError::NotRefundable,
            409,
            "RESERVATION_NOT_REFUNDABLE",
        );
        check(RefundError::WindowClosed, 409, "REFUND_WINDOW_CLOSED");
        check(RefundError::NotFound, 404, "NOT_FOUND");
        check(
            RefundError::IdempotencyKeyReused,
            422,
            "IDEMPOTENCY_KEY_REUSED",
        );
        check(
            RefundError::IdempotencyKeyInUse,
            409,
            "IDEMPOTENCY_KEY_IN_USE",
        );
        check(PayError::InsufficientBalance, 409, "INSUFFICIENT_BALANCE");
        check(
            PayError::IdempotencyKeyReused,
            422,
            "IDEMPOTENCY_KEY_REUSED",
        );
        check(PayError::IdempotencyKeyInUse, 409, "IDEMPOTENCY_KEY_IN_USE");
        check(
            PayError::Store(StoreError::Internal(String::new())),
            500,
            "INTERNAL",
        );
    }

    #[test]
    fn waitlist_counts_errors() {
        check(WaitlistCountsError::ScheduleNotFound, 404, "NOT_FOUND");
        check(
            WaitlistCountsError::Store(StoreError::Unavailable(String::new())),
            503,
            "SERVICE_UNAVAILABLE",
        );
    }

    #[test]
    fn admin_queue_errors() {
        check(AdminQueueError::ConcertNotFound, 404, "NOT_FOUND");
        check(
            AdminQueueError::Store(StoreError::Unavailable(String::new())),
            503,
            "SERVICE_UNAVAILABLE",
        );
    }

    #[test]
    fn adapter_only_errors() {
        check(ApiError::Unauthenticated, 401, "UNAUTHENTICATED");
        check(ApiError::OperatorKeyRequired, 401, "UNAUTHENTICATED");
        check(ApiError::Forbidden, 403, "FORBIDDEN");
        check(
            ApiError::IdempotencyKeyRequired,
            400,
            "IDEMPOTENCY_KEY_REQUIRED",
        );
        check(ApiError::PayloadTooLarge, 413, "PAYLOAD_TOO_LARGE");
        check(
            ApiError::UnsupportedMediaType,
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        );
        check(ApiError::MethodNotAllowed, 405, "METHOD_NOT_ALLOWED");
    }

    #[test]
    fn responses_are_problem_json_with_headers() {
        let res = ApiError::RateLimited {
            retry_after_secs: 7,
            detail: "slow down".to_owned(),
        }
        .error_response();
        assert_eq!(res.status().as_u16(), 429);
        assert_eq!(
            res.headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
            Some("7")
        );
        assert_eq!(
            res.headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            Some(PROBLEM_JSON)
        );
        let res = ApiError::ServiceUnavailable.error_response();
        assert_eq!(
            res.headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
            Some("1")
        );
        for unauthenticated in [ApiError::Unauthenticated, ApiError::OperatorKeyRequired] {
            let res = unauthenticated.error_response();
            assert_eq!(
                res.headers()
                    .get(header::WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok()),
                Some("Bearer")
            );
        }
        let res = ApiError::QueueTokenRequired("no token".into()).error_response();
        assert_eq!(
            res.headers()
                .get(header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok()),
            Some("Queue-Token realm=\"queue\"")
        );
    }

    #[test]
    fn problem_document_shape() {
        let p = ApiError::from(HoldSeatsError::SeatUnavailable {
            seats: vec![seat(3)],
        })
        .problem();
        let v = serde_json::to_value(&p).expect("json");
        assert_eq!(v["type"], "about:blank");
        assert_eq!(v["title"], "Conflict");
        assert_eq!(v["status"], 409);
        assert_eq!(v["code"], "SEAT_UNAVAILABLE");
        assert_eq!(v["detail"], "seats not available: [3]");
    }

    #[test]
    fn details_are_the_domain_errors_own_words() {
        // Arrange
        let domain_errors: Vec<(ApiError, String)> = vec![
            (
                QueueAccessError::NotActive.into(),
                QueueAccessError::NotActive.to_string(),
            ),
            (
                HoldSeatsError::HoldLimitExceeded {
                    would_hold: 5,
                    limit: 4,
                }
                .into(),
                "would hold 5 seats; the limit is 4".to_owned(),
            ),
            (
                CancelError::NotCancellable(ReservationStatus::Confirmed).into(),
                CancelError::NotCancellable(ReservationStatus::Confirmed).to_string(),
            ),
            (
                PayError::InsufficientBalance.into(),
                PayError::InsufficientBalance.to_string(),
            ),
            (
                JoinQueueError::RateLimited {
                    retry_after_secs: 3,
                }
                .into(),
                JoinQueueError::RateLimited {
                    retry_after_secs: 3,
                }
                .to_string(),
            ),
        ];

        // Act
        let details: Vec<(String, String)> = domain_errors
            .into_iter()
            .map(|(api, text)| (api.problem().detail, text))
            .collect();

        // Assert
        for (detail, text) in details {
            assert_eq!(detail, text);
        }
    }

    #[test]
    fn bare_statuses_map_to_codes() {
        assert_eq!(
            ApiError::from_status(StatusCode::NOT_FOUND).code(),
            "NOT_FOUND"
        );
        assert_eq!(
            ApiError::from_status(StatusCode::METHOD_NOT_ALLOWED).code(),
            "METHOD_NOT_ALLOWED"
        );
        assert_eq!(
            ApiError::from_status(StatusCode::PAYLOAD_TOO_LARGE).code(),
            "PAYLOAD_TOO_LARGE"
        );
        assert_eq!(
            ApiError::from_status(StatusCode::BAD_GATEWAY).code(),
            "INTERNAL"
        );
    }
}
