//! Request fingerprints for idempotent operations: the body is read as JSON, written back in a
//! canonical form (object keys sorted, no insignificant whitespace), and hashed together with
//! the operation's name. Two requests that differ only in key order or spacing are the same
//! request; anything else is a different one.

use crate::body::JsonBody;
use crate::errors::ApiError;
use domain::RequestFingerprint;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;

/// Writes `value` canonically: object keys in byte order, no whitespace. Independent of how
/// `serde_json` was built (with or without `preserve_order`).
#[must_use]
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        scalar => {
            let _ = write!(out, "{scalar}");
        }
    }
}

/// The fingerprint of `operation` with a canonical body: hex SHA-256 of
/// `operation`, a newline, and the canonical JSON.
#[must_use]
pub fn fingerprint(operation: &str, canonical_body: &str) -> RequestFingerprint {
    let mut hasher = Sha256::new();
    hasher.update(operation.as_bytes());
    hasher.update(b"\n");
    hasher.update(canonical_body.as_bytes());
    RequestFingerprint::new(hex::encode(hasher.finalize()))
}

/// A JSON body read for an idempotent operation: the typed request plus the canonical text of
/// what was sent. Size, media type and syntax are checked as for any JSON body; a body that is
/// not an object, or does not match `T` (unknown fields, wrong types), is 400
/// `VALIDATION_FAILED`.
#[derive(Debug, Clone)]
pub struct FingerprintedJson<T> {
    /// The typed request.
    pub value: T,
    canonical: String,
}

impl<T> FingerprintedJson<T> {
    /// The request's fingerprint under `operation`.
    #[must_use]
    pub fn fingerprint(&self, operation: &str) -> RequestFingerprint {
        fingerprint(operation, &self.canonical)
    }

    /// The canonical body.
    #[must_use]
    pub fn canonical(&self) -> &str {
        &self.canonical
    }

    /// Builds one from an already parsed body.
    ///
    /// # Errors
    /// [`ApiError::Validation`] when the body is not an object or does not match `T`.
    pub fn from_value(body: Value) -> Result<Self, ApiError>
    where
        T: DeserializeOwned,
    {
        let body = crate::body::require_object(body)?;
        let canonical = canonical_json(&body);
        let JsonBody(value) = JsonBody::from_value(body)?;
        Ok(Self { value, canonical })
    }
}

crate::body::json_body_extractor!(FingerprintedJson);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_order_and_spacing_do_not_matter() {
        let a: Value =
            serde_json::from_str(r#"{"b": 1, "a": {"y": [1, 2], "x": "s"}}"#).expect("json");
        let b: Value = serde_json::from_str(r#"{"a":{"x":"s","y":[1,2]},"b":1}"#).expect("json");
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_eq!(canonical_json(&a), r#"{"a":{"x":"s","y":[1,2]},"b":1}"#);
        assert_eq!(
            fingerprint("charge", &canonical_json(&a)),
            fingerprint("charge", &canonical_json(&b))
        );
    }

    #[test]
    fn different_requests_differ() {
        let one = canonical_json(&serde_json::json!({"amount": 1}));
        let two = canonical_json(&serde_json::json!({"amount": 2}));
        assert_ne!(fingerprint("charge", &one), fingerprint("charge", &two));
        assert_ne!(fingerprint("charge", &one), fingerprint("pay", &one));
        assert_eq!(fingerprint("charge", &one).as_str().len(), 64);
    }

    #[test]
    fn strings_are_escaped() {
        let v = serde_json::json!({"k\"": "a\nb"});
        assert_eq!(canonical_json(&v), r#"{"k\"":"a\nb"}"#);
    }

    #[test]
    fn typed_conversion_rejects_unknown_fields() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Body {
            amount: i64,
        }
        assert!(FingerprintedJson::<Body>::from_value(serde_json::json!({"amount": 5})).is_ok());
        assert!(matches!(
            FingerprintedJson::<Body>::from_value(serde_json::json!({"amount": 5, "userId": 1})),
            Err(ApiError::Validation(_))
        ));
    }
}
