//! Request headers with meaning: `Queue-Token` (a place in line) and `Idempotency-Key`.

use crate::errors::ApiError;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use domain::{IdempotencyKey, InvalidIdempotencyKey, QueueTokenId, IDEMPOTENCY_KEY_MAX_LEN};
use paperclip::actix::OperationModifier;
use paperclip::v2::models::{
    DataType, DataTypeFormat, DefaultOperationRaw, DefaultSchemaRaw, Either, Parameter, ParameterIn,
};
use paperclip::v2::schema::Apiv2Schema;
use std::collections::BTreeMap;
use std::future::{ready, Ready};

/// The queue token header name.
pub const QUEUE_TOKEN_HEADER: &str = "Queue-Token";
/// The idempotency key header name.
pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";
/// The header set on an answer replayed from an idempotency record.
pub const IDEMPOTENT_REPLAYED_HEADER: &str = "Idempotent-Replayed";

fn header_parameter(
    name: &str,
    description: &str,
    format: Option<DataTypeFormat>,
) -> Parameter<DefaultSchemaRaw> {
    Parameter {
        in_: ParameterIn::Header,
        name: name.to_owned(),
        description: Some(description.to_owned()),
        required: true,
        data_type: Some(DataType::String),
        format,
        ..Default::default()
    }
}

/// The `Queue-Token` header: `None` when missing or not a UUID, which the use cases answer
/// with `QUEUE_TOKEN_REQUIRED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueTokenHeader(pub Option<QueueTokenId>);

impl QueueTokenHeader {
    /// Reads the header of a request.
    #[must_use]
    pub fn read(req: &HttpRequest) -> Self {
        let id = req
            .headers()
            .get(QUEUE_TOKEN_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| uuid::Uuid::parse_str(v.trim()).ok())
            .map(QueueTokenId::from_uuid);
        Self(id)
    }
}

impl FromRequest for QueueTokenHeader {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self::read(req)))
    }
}

impl Apiv2Schema for QueueTokenHeader {}

impl OperationModifier for QueueTokenHeader {
    fn update_parameter(op: &mut DefaultOperationRaw) {
        op.parameters.push(Either::Right(header_parameter(
            QUEUE_TOKEN_HEADER,
            "The caller's queue token. Missing, malformed or unknown: 401 QUEUE_TOKEN_REQUIRED; \
             waiting, expired, or another user's or concert's: 403 QUEUE_TOKEN_NOT_ACTIVE.",
            Some(DataTypeFormat::Uuid),
        )));
    }

    fn update_definitions(_: &mut BTreeMap<String, DefaultSchemaRaw>) {}
}

/// The `Queue-Token` header of a payment: as [`QueueTokenHeader`], but documented as optional,
/// since a waiting-list offer is paid without one (any other reservation still needs it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaymentQueueTokenHeader(pub Option<QueueTokenId>);

impl FromRequest for PaymentQueueTokenHeader {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self(QueueTokenHeader::read(req).0)))
    }
}

impl Apiv2Schema for PaymentQueueTokenHeader {}

impl OperationModifier for PaymentQueueTokenHeader {
    fn update_parameter(op: &mut DefaultOperationRaw) {
        let mut parameter = header_parameter(
            QUEUE_TOKEN_HEADER,
            "The caller's queue token; not needed to pay a waiting-list offer. Missing for any \
             other reservation: 401 QUEUE_TOKEN_REQUIRED; waiting, expired, or another user's or \
             concert's: 403 QUEUE_TOKEN_NOT_ACTIVE.",
            Some(DataTypeFormat::Uuid),
        );
        parameter.required = false;
        op.parameters.push(Either::Right(parameter));
    }

    fn update_definitions(_: &mut BTreeMap<String, DefaultSchemaRaw>) {}
}

/// The `Idempotency-Key` header of a charge or payment. Missing or blank: 400
/// `IDEMPOTENCY_KEY_REQUIRED`; present but not 1..=255 visible ASCII characters: 400
/// `VALIDATION_FAILED`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKeyHeader(pub IdempotencyKey);

impl IdempotencyKeyHeader {
    /// Reads and validates the header of a request.
    ///
    /// # Errors
    /// [`ApiError::IdempotencyKeyRequired`] or [`ApiError::Validation`] as described above.
    pub fn read(req: &HttpRequest) -> Result<Self, ApiError> {
        let Some(raw) = req.headers().get(IDEMPOTENCY_KEY_HEADER) else {
            return Err(ApiError::IdempotencyKeyRequired);
        };
        if raw.as_bytes().iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::IdempotencyKeyRequired);
        }
        let text = raw
            .to_str()
            .map_err(|_| ApiError::Validation(InvalidIdempotencyKey.to_string()))?;
        IdempotencyKey::new(text.trim())
            .map(Self)
            .map_err(|e| ApiError::Validation(e.to_string()))
    }
}

impl FromRequest for IdempotencyKeyHeader {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::read(req))
    }
}

impl Apiv2Schema for IdempotencyKeyHeader {}

impl OperationModifier for IdempotencyKeyHeader {
    fn update_parameter(op: &mut DefaultOperationRaw) {
        op.parameters.push(Either::Right(header_parameter(
            IDEMPOTENCY_KEY_HEADER,
            &format!(
                "1 to {IDEMPOTENCY_KEY_MAX_LEN} visible ASCII characters, scoped to the user \
                 and kept at least 24 h. Missing: 400 IDEMPOTENCY_KEY_REQUIRED; malformed: 400 \
                 VALIDATION_FAILED. The same key with the same request replays the first answer \
                 (with `Idempotent-Replayed: true`); with another request: 422 \
                 IDEMPOTENCY_KEY_REUSED; while the first is running: 409 IDEMPOTENCY_KEY_IN_USE."
            ),
            None,
        )));
    }

    fn update_definitions(_: &mut BTreeMap<String, DefaultSchemaRaw>) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn queue_token_is_optional_and_parsed() {
        let id = uuid::Uuid::from_u128(7);
        let req = TestRequest::default()
            .insert_header((QUEUE_TOKEN_HEADER, id.to_string()))
            .to_http_request();
        assert_eq!(
            QueueTokenHeader::read(&req),
            QueueTokenHeader(Some(QueueTokenId::from_uuid(id)))
        );
        let bad = TestRequest::default()
            .insert_header((QUEUE_TOKEN_HEADER, "nope"))
            .to_http_request();
        assert_eq!(QueueTokenHeader::read(&bad), QueueTokenHeader(None));
        let none = TestRequest::default().to_http_request();
        assert_eq!(QueueTokenHeader::read(&none), QueueTokenHeader(None));
    }

    #[test]
    fn idempotency_key_is_required_and_validated() {
        let missing = TestRequest::default().to_http_request();
        assert_eq!(
            IdempotencyKeyHeader::read(&missing),
            Err(ApiError::IdempotencyKeyRequired)
        );
        let blank = TestRequest::default()
            .insert_header((IDEMPOTENCY_KEY_HEADER, " "))
            .to_http_request();
        assert_eq!(
            IdempotencyKeyHeader::read(&blank),
            Err(ApiError::IdempotencyKeyRequired)
        );
        let long = TestRequest::default()
            .insert_header((IDEMPOTENCY_KEY_HEADER, "k".repeat(300)))
            .to_http_request();
        assert!(matches!(
            IdempotencyKeyHeader::read(&long),
            Err(ApiError::Validation(_))
        ));
        let ok = TestRequest::default()
            .insert_header((IDEMPOTENCY_KEY_HEADER, "abc-123"))
            .to_http_request();
        assert_eq!(
            IdempotencyKeyHeader::read(&ok).map(|k| k.0.as_str().to_owned()),
            Ok("abc-123".to_owned())
        );
    }
}
