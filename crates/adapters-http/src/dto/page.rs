//! Keyset pages: `?limit=&cursor=`, with an opaque cursor (base64url of the last item's
//! creation time and id).

use crate::errors::ApiError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use domain::{Cursor, PageRequest};
use paperclip::actix::Apiv2Schema;
use serde::Deserialize;

/// The query string of every list that pages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct PageQuery {
    /// Page size, 1 to the `maximum` stated here (the service's default when absent).
    pub limit: Option<u32>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// Validates the page request.
    ///
    /// # Errors
    /// [`ApiError::Validation`] for a limit of 0 or over [`domain::MAX_PAGE_LIMIT`], or a cursor this service did not
    /// issue.
    pub fn try_into_domain(&self) -> Result<PageRequest, ApiError> {
        let after = self.cursor.as_deref().map(decode_cursor).transpose()?;
        PageRequest::new(self.limit, after).map_err(|e| ApiError::Validation(e.to_string()))
    }
}

/// The opaque text of a cursor.
#[must_use]
pub fn encode_cursor(cursor: &Cursor) -> String {
    let text = format!(
        "{}|{}",
        cursor
            .created_at
            .to_rfc3339_opts(SecondsFormat::Nanos, true),
        cursor.id
    );
    URL_SAFE_NO_PAD.encode(text.as_bytes())
}

/// Parses a cursor issued by [`encode_cursor`].
///
/// # Errors
/// [`ApiError::Validation`] for anything else.
pub fn decode_cursor(text: &str) -> Result<Cursor, ApiError> {
    let invalid = || ApiError::validation("invalid cursor");
    let bytes = URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (time, id) = text.split_once('|').ok_or_else(invalid)?;
    let created_at = DateTime::parse_from_rfc3339(time)
        .map_err(|_| invalid())?
        .with_timezone(&Utc);
    let id = uuid::Uuid::parse_str(id).map_err(|_| invalid())?;
    Ok(Cursor { created_at, id })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips() {
        let cursor = Cursor {
            created_at: DateTime::parse_from_rfc3339("2025-03-01T12:34:56.123456789Z")
                .expect("time")
                .with_timezone(&Utc),
            id: uuid::Uuid::from_u128(0x1234_5678_9abc_def0),
        };
        let text = encode_cursor(&cursor);
        assert!(text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(decode_cursor(&text), Ok(cursor));
    }

    #[test]
    fn foreign_cursors_are_validation_errors() {
        for bad in [
            "",
            "!!!",
            "bm90LWEtY3Vyc29y",
            &URL_SAFE_NO_PAD.encode("2025-01-01T00:00:00Z|x"),
        ] {
            assert!(
                matches!(decode_cursor(bad), Err(ApiError::Validation(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn limits_are_checked() {
        let q = |limit| PageQuery {
            limit,
            cursor: None,
        };
        assert_eq!(q(None).try_into_domain().map(|p| p.limit()), Ok(20));
        assert_eq!(q(Some(100)).try_into_domain().map(|p| p.limit()), Ok(100));
        assert!(matches!(
            q(Some(0)).try_into_domain(),
            Err(ApiError::Validation(_))
        ));
        assert!(matches!(
            q(Some(101)).try_into_domain(),
            Err(ApiError::Validation(_))
        ));
    }
}
