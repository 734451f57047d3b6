//! Sale windows: an operator's change of a concert's window.

use crate::errors::ApiError;
use chrono::{DateTime, Utc};
use domain::{SalePatch, SaleWindow};
use paperclip::actix::Apiv2Schema;
use serde::{Deserialize, Deserializer};

/// `Some(value)` for a member that is present (even `null`), `None` for one that is absent.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// An operator's change of a concert's sale window; absent members stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SalePatchRequest {
    /// When the sale opens (RFC 3339). Joins before it wait in the pre-queue for the draw.
    /// Cannot move once the draw has happened (409 SALE_ALREADY_OPEN), nor be removed (set it to
    /// now to open the sale at once).
    #[serde(default, deserialize_with = "present")]
    pub sale_opens_at: Option<Option<DateTime<Utc>>>,
    /// When the sale closes to new joins (RFC 3339), or null for never; after `saleOpensAt`.
    #[serde(default, deserialize_with = "present")]
    pub sale_closes_at: Option<Option<DateTime<Utc>>>,
}

impl SalePatchRequest {
    /// The domain's patch.
    ///
    /// # Errors
    /// [`ApiError::Validation`] for `saleOpensAt: null`.
    pub fn try_into_domain(self) -> Result<SalePatch, ApiError> {
        let opens_at = match self.sale_opens_at {
            Some(None) => {
                return Err(ApiError::validation(
                    "saleOpensAt cannot be removed; set it to now to open the sale at once",
                ))
            }
            Some(Some(at)) => Some(at),
            None => None,
        };
        Ok(SalePatch::new(opens_at, self.sale_closes_at))
    }
}

/// A sale window from a request's two optional ends.
///
/// # Errors
/// [`ApiError::Validation`] when the closing is not after the opening.
pub fn sale_window(
    opens_at: Option<DateTime<Utc>>,
    closes_at: Option<DateTime<Utc>>,
) -> Result<SaleWindow, ApiError> {
    SaleWindow::new(opens_at, closes_at).map_err(|e| ApiError::validation(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_null_and_set_are_told_apart() {
        let parse = |v| serde_json::from_value::<SalePatchRequest>(v).expect("body");
        let absent = parse(serde_json::json!({}));
        assert_eq!(absent.sale_closes_at, None);
        let null = parse(serde_json::json!({"saleClosesAt": null}));
        assert_eq!(null.sale_closes_at, Some(None));
        let opens_null = parse(serde_json::json!({"saleOpensAt": null}));
        assert!(matches!(
            opens_null.try_into_domain(),
            Err(ApiError::Validation(_))
        ));
        assert!(
            serde_json::from_value::<SalePatchRequest>(serde_json::json!({"paused": true}))
                .is_err()
        );
    }
}
