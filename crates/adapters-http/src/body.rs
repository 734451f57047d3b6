//! JSON request bodies as the contract has them: always an object.
//!
//! actix's `Json<T>` lets serde build a struct from an array of its fields in order (`[100]` is
//! read as `{"amount": 100}`, `[]` as an empty patch), where the OpenAPI document says
//! `type: object`. Here anything but an object is 400 `VALIDATION_FAILED`, so a body invalid by
//! the document is refused.

use crate::errors::ApiError;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::ops::Deref;

/// `body` when it is a JSON object.
///
/// # Errors
/// [`ApiError::Validation`] for an array, a string, a number, a boolean or `null`.
pub fn require_object(body: Value) -> Result<Value, ApiError> {
    if body.is_object() {
        Ok(body)
    } else {
        Err(ApiError::validation(
            "the request body must be a JSON object",
        ))
    }
}

/// A JSON object body, typed as `T`. Size, media type and syntax are checked as for any JSON
/// body (413, 415, 400 through the `JsonConfig`); a body that is not an object, or does not
/// match `T` (unknown members, wrong types), is 400 `VALIDATION_FAILED`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonBody<T>(pub T);

impl<T> JsonBody<T> {
    /// The typed body.
    pub fn into_inner(self) -> T {
        self.0
    }

    /// Types an already parsed body.
    ///
    /// # Errors
    /// [`ApiError::Validation`] when `body` is not an object or does not match `T`.
    pub fn from_value(body: Value) -> Result<Self, ApiError>
    where
        T: DeserializeOwned,
    {
        serde_json::from_value(require_object(body)?)
            .map(Self)
            .map_err(|e| ApiError::Validation(format!("invalid request body: {e}")))
    }
}

impl<T> Deref for JsonBody<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// Makes `$wrapper<T>` (with `fn from_value(Value) -> Result<Self, ApiError>`) a request
/// extractor that reads the body as JSON, and documents it as `T`'s JSON body: one place for
/// every typed body, so they all refuse what [`JsonBody`] refuses.
macro_rules! json_body_extractor {
    ($wrapper:ident) => {
        impl<T: ::serde::de::DeserializeOwned + 'static> ::actix_web::FromRequest for $wrapper<T> {
            type Error = ::actix_web::Error;
            type Future =
                ::futures::future::LocalBoxFuture<'static, Result<Self, ::actix_web::Error>>;

            fn from_request(
                req: &::actix_web::HttpRequest,
                payload: &mut ::actix_web::dev::Payload,
            ) -> Self::Future {
                let body = <::actix_web::web::Json<::serde_json::Value> as ::actix_web::FromRequest>::from_request(
                    req, payload,
                );
                Box::pin(async move { Ok(Self::from_value(body.await?.into_inner())?) })
            }
        }

        impl<T: ::paperclip::v2::schema::Apiv2Schema> ::paperclip::v2::schema::Apiv2Schema
            for $wrapper<T>
        {
            fn name() -> Option<String> {
                T::name()
            }

            fn raw_schema() -> ::paperclip::v2::models::DefaultSchemaRaw {
                T::raw_schema()
            }
        }

        impl<T: ::paperclip::v2::schema::Apiv2Schema> ::paperclip::actix::OperationModifier
            for $wrapper<T>
        {
            fn update_parameter(op: &mut ::paperclip::v2::models::DefaultOperationRaw) {
                <::actix_web::web::Json<T> as ::paperclip::actix::OperationModifier>::update_parameter(op);
            }
        }
    };
}
pub(crate) use json_body_extractor;

json_body_extractor!(JsonBody);

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, PartialEq, Eq, Deserialize)]
    struct Patch {
        #[serde(default)]
        paused: Option<bool>,
    }

    #[test]
    fn only_objects_are_bodies() {
        // Arrange
        let refused = [json!([]), json!([true]), json!(null), json!("x"), json!(1)];

        // Act
        let object = JsonBody::<Patch>::from_value(json!({"paused": true}));

        // Assert
        assert_eq!(object, Ok(JsonBody(Patch { paused: Some(true) })));
        for body in refused {
            assert!(
                matches!(
                    JsonBody::<Patch>::from_value(body.clone()),
                    Err(ApiError::Validation(_))
                ),
                "{body}"
            );
        }
    }
}
