//! The demo sign-in (in-memory mode, or when the operator turns it on).

use crate::errors::ApiError;
use chrono::{DateTime, Utc};
use domain::UserId;
use paperclip::actix::Apiv2Schema;
use serde::{Deserialize, Serialize};

/// The token type of every demo sign-in answer.
pub const BEARER: &str = "Bearer";

/// A request for a user token of a chosen demo user.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Apiv2Schema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DemoSignInRequest {
    /// The user to act as: a positive integer.
    pub user_id: i64,
}

impl DemoSignInRequest {
    /// The user to sign in as.
    ///
    /// # Errors
    /// [`ApiError::Validation`] for a user id below 1.
    pub fn try_into_domain(&self) -> Result<UserId, ApiError> {
        UserId::new(self.user_id).map_err(|e| ApiError::Validation(e.to_string()))
    }
}

/// A user token minted by the demo sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Apiv2Schema)]
#[serde(rename_all = "camelCase")]
pub struct DemoSignInDto {
    /// The JWT to send as `Authorization: Bearer <accessToken>`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// The user the token names (its `sub`).
    pub user_id: i64,
    /// When the token expires: its `exp` (or, read across a second's turn, one second before).
    pub expires_at: DateTime<Utc>,
}
