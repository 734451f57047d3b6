//! Success answers other than a plain 200 JSON body (which is `web::Json`), each documenting its
//! own status code in the OpenAPI document.

use crate::errors::ApiError;
use crate::headers::IDEMPOTENT_REPLAYED_HEADER;
use actix_web::body::BoxBody;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, Responder, ResponseError};
use paperclip::actix::OperationModifier;
use paperclip::v2::models::{DefaultOperationRaw, DefaultSchemaRaw, Either, Response};
use paperclip::v2::schema::Apiv2Schema;
use serde::Serialize;

fn json_response<T: Serialize>(status: StatusCode, body: &T, replayed: bool) -> HttpResponse {
    match serde_json::to_vec(body) {
        Ok(bytes) => {
            let mut builder = HttpResponse::build(status);
            builder.content_type("application/json");
            if replayed {
                builder.insert_header((IDEMPOTENT_REPLAYED_HEADER, "true"));
            }
            builder.body(bytes)
        }
        Err(e) => {
            tracing::error!(error = %e, "response serialisation failed");
            ApiError::Internal.error_response()
        }
    }
}

fn document<T: Apiv2Schema>(op: &mut DefaultOperationRaw, status: StatusCode, description: &str) {
    op.responses.insert(
        status.as_str().to_owned(),
        Either::Right(Response {
            description: Some(description.to_owned()),
            schema: Some({
                let mut def = T::schema_with_ref();
                def.retain_ref();
                def
            }),
            ..Default::default()
        }),
    );
}

/// 201 Created with a JSON body. `replayed` adds `Idempotent-Replayed: true` (an idempotent
/// answer given again from its stored record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created<T> {
    /// The body.
    pub body: T,
    /// True when this answer is a replay.
    pub replayed: bool,
}

impl<T> Created<T> {
    /// A fresh 201.
    pub const fn new(body: T) -> Self {
        Self {
            body,
            replayed: false,
        }
    }
}

impl<T: Serialize> Responder for Created<T> {
    type Body = BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        json_response(StatusCode::CREATED, &self.body, self.replayed)
    }
}

impl<T: Apiv2Schema> Apiv2Schema for Created<T> {
    fn name() -> Option<String> {
        T::name()
    }

    fn raw_schema() -> DefaultSchemaRaw {
        T::raw_schema()
    }
}

impl<T: Apiv2Schema> OperationModifier for Created<T> {
    fn update_response(op: &mut DefaultOperationRaw) {
        document::<T>(op, StatusCode::CREATED, "Created");
    }
}

/// 201 for something new, 200 for the existing one returned instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedOrExisting<T> {
    /// The body.
    pub body: T,
    /// True for 201.
    pub created: bool,
}

impl<T: Serialize> Responder for CreatedOrExisting<T> {
    type Body = BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        let status = if self.created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        json_response(status, &self.body, false)
    }
}

impl<T: Apiv2Schema> Apiv2Schema for CreatedOrExisting<T> {
    fn name() -> Option<String> {
        T::name()
    }

    fn raw_schema() -> DefaultSchemaRaw {
        T::raw_schema()
    }
}

impl<T: Apiv2Schema> OperationModifier for CreatedOrExisting<T> {
    fn update_response(op: &mut DefaultOperationRaw) {
        document::<T>(op, StatusCode::CREATED, "A new token was issued");
        document::<T>(
            op,
            StatusCode::OK,
            "The caller's live (waiting or active) token for this concert",
        );
    }
}

/// 204 No Content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoContent;

impl Responder for NoContent {
    type Body = BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        HttpResponse::NoContent().finish()
    }
}

impl Apiv2Schema for NoContent {}

impl OperationModifier for NoContent {
    fn update_response(op: &mut DefaultOperationRaw) {
        op.responses.insert(
            "204".to_owned(),
            Either::Right(Response {
                description: Some("No Content".to_owned()),
                ..Default::default()
            }),
        );
    }
}
