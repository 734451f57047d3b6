//! Who is calling: users (HS256 JWT), operators (the admin key) — as actix extractors that also
//! describe themselves to the OpenAPI document.

use crate::errors::ApiError;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use domain::UserId;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use paperclip::actix::OperationModifier;
use paperclip::v2::models::{DefaultSchemaRaw, SecurityScheme};
use paperclip::v2::schema::Apiv2Schema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::future::{ready, Ready};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use subtle::ConstantTimeEq;

/// Name of the user security scheme in the OpenAPI document.
pub const USER_SCHEME: &str = "userJwt";
/// Name of the operator security scheme in the OpenAPI document.
pub const ADMIN_SCHEME: &str = "adminKey";

/// Seconds of clock skew tolerated when checking `exp` and `nbf`.
pub const JWT_LEEWAY_SECS: u64 = 5;

/// The issuer and audience a user JWT must name (`JWT_ISSUER`, `JWT_AUDIENCE`). Each is checked
/// only when set: then the token must carry a matching `iss` (or `aud`, a string or an array
/// that contains it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JwtRules {
    /// The required `iss`, if any.
    pub issuer: Option<String>,
    /// The required `aud`, if any.
    pub audience: Option<String>,
}

/// The verification material, shared by every worker.
pub struct AuthState {
    decoding: DecodingKey,
    validation: Validation,
    admin_key_digest: [u8; 32],
}

impl AuthState {
    /// Prepares JWT verification with `jwt_secret` and `rules`, and admin checks against
    /// `admin_api_key`.
    #[must_use]
    pub fn new(jwt_secret: &str, admin_api_key: &str, rules: &JwtRules) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = JWT_LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        if let Some(issuer) = &rules.issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        match &rules.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                validation.validate_aud = true;
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        Self {
            decoding: DecodingKey::from_secret(jwt_secret.as_bytes()),
            validation,
            admin_key_digest: digest(admin_api_key.as_bytes()),
        }
    }

    /// Verifies a user JWT and returns its subject.
    ///
    /// # Errors
    /// [`ApiError::Unauthenticated`] for anything but a well-signed HS256 token, unexpired and
    /// not before its `nbf`, whose `sub` is a positive integer and whose `iss` and `aud` match
    /// the configured ones.
    pub fn verify_jwt(&self, token: &str) -> Result<UserId, ApiError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| {
                tracing::debug!(error = %e, "rejected JWT");
                ApiError::Unauthenticated
            })?;
        let sub = data.claims.sub;
        if sub.is_empty() || !sub.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ApiError::Unauthenticated);
        }
        sub.parse::<UserId>().map_err(|_| ApiError::Unauthenticated)
    }

    /// True when `candidate` is the admin key (compared in constant time over digests, so
    /// neither the content nor the length of the key leaks).
    #[must_use]
    pub fn is_admin_key(&self, candidate: &str) -> bool {
        digest(candidate.as_bytes())
            .ct_eq(&self.admin_key_digest)
            .into()
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The claims this service reads (`iss` and `aud` are checked by the validation; `nbf` is read
/// here too so that a malformed one is refused rather than ignored).
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iss: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    aud: Option<serde_json::Value>,
}

/// Mints an HS256 user token (`sub` = the user id, `iat` = now, `exp` = now + `ttl`), for the
/// CLI subcommand and tests. The service itself only verifies tokens.
#[must_use]
pub fn mint_user_jwt(secret: &str, user_id: UserId, ttl: Duration) -> String {
    mint_user_jwt_for(secret, &JwtRules::default(), user_id, ttl)
}

/// As [`mint_user_jwt`], with `iss` and `aud` set to the ones `rules` require.
#[must_use]
pub fn mint_user_jwt_for(secret: &str, rules: &JwtRules, user_id: UserId, ttl: Duration) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let claims = Claims {
        sub: user_id.get().to_string(),
        exp: now.saturating_add(ttl.as_secs()),
        iat: Some(now),
        nbf: None,
        iss: rules.issuer.clone().map(serde_json::Value::String),
        aud: rules.audience.clone().map(serde_json::Value::String),
    };
    // HS256 signing with an in-memory secret cannot fail.
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap_or_default()
}

/// The bearer credential of a request, if it has one.
fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then_some(token)
}

fn auth_state(req: &HttpRequest) -> Result<&AuthState, ApiError> {
    req.app_data::<web::Data<AuthState>>()
        .map(|d| d.get_ref())
        .ok_or_else(|| {
            tracing::error!("AuthState is not registered as app data");
            ApiError::Internal
        })
}

/// The caller, as named by a valid user JWT (`Authorization: Bearer <JWT>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthenticatedUser(pub UserId);

impl FromRequest for AuthenticatedUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready((|| {
            let state = auth_state(req)?;
            let token = bearer(req).ok_or(ApiError::Unauthenticated)?;
            state.verify_jwt(token).map(Self)
        })())
    }
}

fn security_scheme(description: &str) -> SecurityScheme {
    SecurityScheme {
        name: Some("Authorization".to_owned()),
        type_: "apiKey".to_owned(),
        in_: Some("header".to_owned()),
        description: Some(description.to_owned()),
        ..Default::default()
    }
}

impl Apiv2Schema for AuthenticatedUser {
    fn name() -> Option<String> {
        Some(USER_SCHEME.to_owned())
    }

    fn security_scheme() -> Option<SecurityScheme> {
        Some(security_scheme(
            "`Authorization: Bearer <JWT>`: HS256, `sub` = user id, `exp` required, `nbf` \
             honoured; `iss` and `aud` must match when the service is configured with them.",
        ))
    }
}

impl OperationModifier for AuthenticatedUser {
    fn update_definitions(_: &mut BTreeMap<String, DefaultSchemaRaw>) {}
}

/// An operator, proven by `Authorization: Bearer <admin key>`. A missing or wrong credential is
/// 401 `UNAUTHENTICATED` with a `WWW-Authenticate: Bearer` challenge (HTTP's answer to "who are
/// you?"); a valid user JWT is 403 `FORBIDDEN`: the caller is known, but a user is not an
/// operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operator;

impl Operator {
    /// Who `credential` proves the caller to be, on an operator endpoint.
    fn check(state: &AuthState, credential: Option<&str>) -> Result<Self, ApiError> {
        let credential = credential.ok_or(ApiError::OperatorKeyRequired)?;
        if state.is_admin_key(credential) {
            Ok(Self)
        } else if state.verify_jwt(credential).is_ok() {
            Err(ApiError::Forbidden)
        } else {
            Err(ApiError::OperatorKeyRequired)
        }
    }
}

impl FromRequest for Operator {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(auth_state(req).and_then(|state| Self::check(state, bearer(req))))
    }
}

impl Apiv2Schema for Operator {
    fn name() -> Option<String> {
        Some(ADMIN_SCHEME.to_owned())
    }

    fn security_scheme() -> Option<SecurityScheme> {
        Some(security_scheme(
            "`Authorization: Bearer <admin key>`; a missing or wrong key is 401 UNAUTHENTICATED \
             (with `WWW-Authenticate: Bearer`), a user JWT is 403 FORBIDDEN.",
        ))
    }
}

impl OperationModifier for Operator {
    fn update_definitions(_: &mut BTreeMap<String, DefaultSchemaRaw>) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    const SECRET: &str = "test-secret";

    fn state() -> AuthState {
        AuthState::new(SECRET, "admin-key", &JwtRules::default())
    }

    fn rules() -> JwtRules {
        JwtRules {
            issuer: Some("https://id.example".into()),
            audience: Some("concerts".into()),
        }
    }

    fn strict_state() -> AuthState {
        AuthState::new(SECRET, "admin-key", &rules())
    }

    fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    fn sign(claims: &serde_json::Value, alg: Algorithm, secret: &str) -> String {
        jsonwebtoken::encode(
            &Header::new(alg),
            claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("encode")
    }

    fn user(n: i64) -> UserId {
        UserId::new(n).expect("positive")
    }

    #[test]
    fn minted_token_is_accepted() {
        let token = mint_user_jwt(SECRET, user(42), Duration::from_secs(60));
        assert_eq!(state().verify_jwt(&token), Ok(user(42)));
    }

    #[test]
    fn alg_none_is_rejected() {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let claims = URL_SAFE_NO_PAD.encode(
            serde_json::json!({"sub": "1", "exp": now() + 60})
                .to_string()
                .as_bytes(),
        );
        let token = format!("{header}.{claims}.");
        assert_eq!(state().verify_jwt(&token), Err(ApiError::Unauthenticated));
    }

    #[test]
    fn other_algorithms_are_rejected() {
        let claims = serde_json::json!({"sub": "1", "exp": now() + 60});
        let token = sign(&claims, Algorithm::HS512, SECRET);
        assert_eq!(state().verify_jwt(&token), Err(ApiError::Unauthenticated));
    }

    #[test]
    fn bad_signature_is_rejected() {
        let token = mint_user_jwt("another-secret", user(1), Duration::from_secs(60));
        assert_eq!(state().verify_jwt(&token), Err(ApiError::Unauthenticated));
    }

    #[test]
    fn expired_token_is_rejected() {
        let claims = serde_json::json!({"sub": "1", "exp": now() - 60, "iat": now() - 120});
        let token = sign(&claims, Algorithm::HS256, SECRET);
        assert_eq!(state().verify_jwt(&token), Err(ApiError::Unauthenticated));
    }

    #[test]
    fn missing_claims_are_rejected() {
        let no_sub = sign(
            &serde_json::json!({"exp": now() + 60}),
            Algorithm::HS256,
            SECRET,
        );
        let no_exp = sign(&serde_json::json!({"sub": "1"}), Algorithm::HS256, SECRET);
        assert_eq!(state().verify_jwt(&no_sub), Err(ApiError::Unauthenticated));
        assert_eq!(state().verify_jwt(&no_exp), Err(ApiError::Unauthenticated));
    }

    #[test]
    fn non_positive_or_non_numeric_sub_is_rejected() {
        for sub in [
            serde_json::json!("abc"),
            serde_json::json!("0"),
            serde_json::json!("-3"),
            serde_json::json!("+3"),
            serde_json::json!(""),
            serde_json::json!(7),
        ] {
            let token = sign(
                &serde_json::json!({"sub": sub, "exp": now() + 60}),
                Algorithm::HS256,
                SECRET,
            );
            assert_eq!(
                state().verify_jwt(&token),
                Err(ApiError::Unauthenticated),
                "sub {sub}"
            );
        }
    }

    #[test]
    fn garbage_is_rejected() {
        assert_eq!(
            state().verify_jwt("not.a.jwt"),
            Err(ApiError::Unauthenticated)
        );
    }

    #[test]
    fn admin_key_comparison() {
        let s = state();
        assert!(s.is_admin_key("admin-key"));
        assert!(!s.is_admin_key("admin-key2"));
        assert!(!s.is_admin_key(""));
    }

    #[test]
    fn a_token_before_its_nbf_is_rejected() {
        // Arrange
        let later = sign(
            &serde_json::json!({"sub": "1", "exp": now() + 600, "nbf": now() + 60}),
            Algorithm::HS256,
            SECRET,
        );
        let within_leeway = sign(
            &serde_json::json!({"sub": "1", "exp": now() + 600, "nbf": now() + 1}),
            Algorithm::HS256,
            SECRET,
        );
        let earlier = sign(
            &serde_json::json!({"sub": "1", "exp": now() + 600, "nbf": now() - 60}),
            Algorithm::HS256,
            SECRET,
        );
        let malformed = sign(
            &serde_json::json!({"sub": "1", "exp": now() + 600, "nbf": "soon"}),
            Algorithm::HS256,
            SECRET,
        );

        // Act
        let s = state();

        // Assert
        assert_eq!(s.verify_jwt(&later), Err(ApiError::Unauthenticated));
        assert_eq!(s.verify_jwt(&within_leeway), Ok(user(1)));
        assert_eq!(s.verify_jwt(&earlier), Ok(user(1)));
        assert_eq!(s.verify_jwt(&malformed), Err(ApiError::Unauthenticated));
    }

    #[test]
    fn issuer_and_audience_must_match_when_configured() {
        // Arrange
        let exp = now() + 600;
        let with = |extra: serde_json::Value| {
            let mut claims = serde_json::json!({"sub": "5", "exp": exp});
            if let (Some(c), Some(e)) = (claims.as_object_mut(), extra.as_object()) {
                c.extend(e.clone());
            }
            sign(&claims, Algorithm::HS256, SECRET)
        };
        let refused = [
            ("neither", with(serde_json::json!({}))),
            (
                "no aud",
                with(serde_json::json!({"iss": "https://id.example"})),
            ),
            ("no iss", with(serde_json::json!({"aud": "concerts"}))),
            (
                "wrong iss",
                with(serde_json::json!({"iss": "https://evil.example", "aud": "concerts"})),
            ),
            (
                "wrong aud",
                with(serde_json::json!({"iss": "https://id.example", "aud": "payments"})),
            ),
            (
                "aud not a string",
                with(serde_json::json!({"iss": "https://id.example", "aud": 7})),
            ),
        ];
        let accepted = [
            (
                "both",
                with(serde_json::json!({"iss": "https://id.example", "aud": "concerts"})),
            ),
            (
                "aud among several",
                with(serde_json::json!({"iss": "https://id.example", "aud": ["x", "concerts"]})),
            ),
            (
                "minted",
                mint_user_jwt_for(SECRET, &rules(), user(5), Duration::from_secs(60)),
            ),
        ];

        // Act
        let s = strict_state();

        // Assert
        for (case, token) in refused {
            assert_eq!(
                s.verify_jwt(&token),
                Err(ApiError::Unauthenticated),
                "{case}"
            );
        }
        for (case, token) in accepted {
            assert_eq!(s.verify_jwt(&token), Ok(user(5)), "{case}");
        }
    }

    #[test]
    fn issuer_and_audience_are_not_checked_when_unset() {
        // Arrange
        let token = sign(
            &serde_json::json!({"sub": "3", "exp": now() + 600, "iss": "anyone", "aud": "anything"}),
            Algorithm::HS256,
            SECRET,
        );
        let plain = mint_user_jwt(SECRET, user(3), Duration::from_secs(60));

        // Act
        let s = state();

        // Assert
        assert_eq!(s.verify_jwt(&token), Ok(user(3)));
        assert_eq!(s.verify_jwt(&plain), Ok(user(3)));
    }

    #[test]
    fn operators_are_challenged_and_users_forbidden() {
        // Arrange
        let s = state();
        let user_jwt = mint_user_jwt(SECRET, user(7), Duration::from_secs(60));

        // Act
        let missing = Operator::check(&s, None);
        let wrong = Operator::check(&s, Some("admin-keyx"));
        let as_user = Operator::check(&s, Some(&user_jwt));
        let as_operator = Operator::check(&s, Some("admin-key"));

        // Assert
        assert_eq!(missing, Err(ApiError::OperatorKeyRequired));
        assert_eq!(wrong, Err(ApiError::OperatorKeyRequired));
        assert_eq!(as_user, Err(ApiError::Forbidden));
        assert_eq!(as_operator, Ok(Operator));
    }
}
