//! The demo sign-in: a user token for any user id, without credentials. Registered only when
//! the operator setting `DEMO_SIGN_IN` is on (by default only with the in-memory store), since
//! it lets anyone act as any user; real tokens come from an external identity provider.

use crate::auth::{mint_user_jwt_for, JwtRules};
use crate::body::JsonBody;
use crate::dto::{DemoSignInDto, DemoSignInRequest, BEARER};
use crate::errors::ApiError;
use crate::responses::Created;
use chrono::{DateTime, Utc};
use paperclip::actix::api_v2_operation;
use paperclip::actix::web::{self, ServiceConfig};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The path of the demo sign-in.
pub const DEMO_SIGN_IN_PATH: &str = "/api/v1/demo/sign-in";

/// How long a demo token is valid: 12 hours, a working day of trying a front-end.
pub const DEMO_TOKEN_TTL: Duration = Duration::from_secs(12 * 3600);

/// What the demo sign-in signs with: the service's own JWT secret and rules, so its tokens are
/// accepted like any user token.
#[derive(Debug, Clone)]
pub struct DemoSignIn {
    secret: String,
    rules: JwtRules,
}

impl DemoSignIn {
    /// Mints with `secret`, naming the `iss` and `aud` of `rules` when they are set.
    #[must_use]
    pub fn new(secret: impl Into<String>, rules: JwtRules) -> Self {
        Self {
            secret: secret.into(),
            rules,
        }
    }
}

/// Sign in as a demo user
///
/// Mints a user token (HS256 JWT, valid 12 hours) for any `userId`, without credentials, so that
/// a page can sign in without a shell. Present only in in-memory (mock) mode, or when the
/// operator sets `DEMO_SIGN_IN=true`; otherwise the path is 404 NOT_FOUND.
#[api_v2_operation(tags(Demo), operation_id = "demoSignIn")]
pub async fn sign_in(
    demo: web::Data<DemoSignIn>,
    body: JsonBody<DemoSignInRequest>,
) -> Result<Created<DemoSignInDto>, ApiError> {
    let user = body.try_into_domain()?;
    // Read before minting: the token's `exp` is this or a second later, never earlier.
    let now_secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let token = mint_user_jwt_for(&demo.secret, &demo.rules, user, DEMO_TOKEN_TTL);
    let expires_at = i64::try_from(now_secs.saturating_add(DEMO_TOKEN_TTL.as_secs()))
        .ok()
        .and_then(|secs| DateTime::<Utc>::from_timestamp(secs, 0))
        .ok_or(ApiError::Internal)?;
    Ok(Created::new(DemoSignInDto {
        access_token: token,
        token_type: BEARER,
        user_id: user.get(),
        expires_at,
    }))
}

/// Registers the demo sign-in (call only when it is enabled).
pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(web::resource(DEMO_SIGN_IN_PATH).route(web::post().to(sign_in)));
}
