//! Cross-origin access (CORS) for browser pages served from other origins, with `actix-cors`:
//! which origins may call the API ([`CorsPolicy`], from the `CORS_ALLOWED_ORIGINS` setting)
//! and the fixed rest of the policy (the contract's methods and headers).
//!
//! Requests from an origin that is not allowed are still served, only without CORS headers, so
//! the browser keeps the answer from the page (and a same-origin page, which browsers do not
//! preflight, keeps working); their preflights are refused (400).

use actix_cors::Cors;
use actix_web::http::uri::Authority;
use std::fmt;
use std::str::FromStr;

/// The methods a cross-origin page may use.
pub const ALLOWED_METHODS: [&str; 5] = ["GET", "POST", "PATCH", "DELETE", "OPTIONS"];
/// The request headers a cross-origin page may send (those of the contract).
pub const ALLOWED_HEADERS: [&str; 4] = [
    "Authorization",
    "Queue-Token",
    "Idempotency-Key",
    "Content-Type",
];
/// The answer headers a cross-origin page may read besides the CORS-safelisted ones.
pub const EXPOSED_HEADERS: [&str; 2] = ["Retry-After", "Idempotent-Replayed"];
/// How long a browser may cache a preflight answer, in seconds.
pub const MAX_AGE_SECS: usize = 3600;

/// Which origins may call the API from a browser.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CorsPolicy {
    /// Any origin (`*`).
    any: bool,
    /// The allowed origins, normalised as browsers send them (empty with `any`).
    origins: Vec<String>,
}

/// A refused `CORS_ALLOWED_ORIGINS` value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidCorsOrigins(String);

impl CorsPolicy {
    /// No origin: no CORS headers, every preflight refused.
    #[must_use]
    pub fn none() -> Self {
        Self::default()
    }

    /// Any origin: answers carry `Access-Control-Allow-Origin: *` (no credentials mode).
    #[must_use]
    pub fn any_origin() -> Self {
        Self {
            any: true,
            origins: Vec::new(),
        }
    }

    /// Parses a setting: `*` alone, or a comma-separated list of origins
    /// (`scheme://host[:port]`, no path), or nothing (blank) for none. Scheme and host are
    /// lowercased and a default port (80 for http, 443 for https) is dropped, as browsers send
    /// origins.
    ///
    /// # Errors
    /// [`InvalidCorsOrigins`] naming the first refused item.
    pub fn parse(value: &str) -> Result<Self, InvalidCorsOrigins> {
        if value.trim() == "*" {
            return Ok(Self::any_origin());
        }
        let mut origins: Vec<String> = Vec::new();
        for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            if item == "*" {
                return Err(InvalidCorsOrigins(
                    "`*` must stand alone, not in a list of origins".to_owned(),
                ));
            }
            let origin = normalise_origin(item).map_err(|reason| {
                InvalidCorsOrigins(format!("`{item}` is not an origin: {reason}"))
            })?;
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
        Ok(Self {
            any: false,
            origins,
        })
    }

    /// True when any origin is allowed.
    #[must_use]
    pub const fn allows_any_origin(&self) -> bool {
        self.any
    }

    /// The allowed origins (empty for `*` and for none).
    #[must_use]
    pub fn origins(&self) -> &[String] {
        &self.origins
    }

    /// True when no origin is allowed.
    #[must_use]
    pub fn is_none(&self) -> bool {
        !self.any && self.origins.is_empty()
    }

    /// The `actix-cors` middleware of this policy (built per worker: it is not `Send`).
    pub fn middleware(&self) -> Cors {
        let cors = if self.any {
            Cors::default().allow_any_origin().send_wildcard()
        } else {
            self.origins
                .iter()
                .fold(Cors::default(), |cors, origin| cors.allowed_origin(origin))
        };
        cors.allowed_methods(ALLOWED_METHODS)
            .allowed_headers(ALLOWED_HEADERS)
            .expose_headers(EXPOSED_HEADERS)
            .max_age(MAX_AGE_SECS)
            .block_on_origin_mismatch(false)
    }
}

/// `*`, the comma-separated origins, or `none`.
impl fmt::Display for CorsPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.any {
            f.write_str("*")
        } else if self.origins.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&self.origins.join(","))
        }
    }
}

/// `scheme://host[:port]` as a browser's `Origin` header spells it, or why `raw` is not one.
fn normalise_origin(raw: &str) -> Result<String, &'static str> {
    const SHAPE: &str = "must be scheme://host[:port]";
    let (scheme, rest) = raw.split_once("://").ok_or(SHAPE)?;
    let scheme = scheme.to_ascii_lowercase();
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return Err(SHAPE);
    }
    if rest.contains(['/', '?', '#']) {
        return Err("must have no path (not even a trailing slash), query or fragment");
    }
    if rest.contains('@') {
        return Err("must have no user name or password");
    }
    if rest.ends_with(':') {
        return Err("has an empty port");
    }
    let authority = Authority::from_str(rest).map_err(|_| SHAPE)?;
    if authority.host().is_empty() {
        return Err("has no host");
    }
    let host = authority.host().to_ascii_lowercase();
    // `Authority::port` reads no port from an out-of-range one: split it off here.
    let port_text = match rest.rsplit_once(':') {
        Some((_, p)) if !p.contains(']') => Some(p),
        _ => None,
    };
    let port = match port_text.map(|p| (p, p.parse::<u16>())) {
        None => None,
        Some((p, Ok(n))) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Some(n),
        Some(_) => return Err("its port must be 1 to 65535"),
    }
    .filter(|&p| !((scheme == "http" && p == 80) || (scheme == "https" && p == 443)));
    Ok(match port {
        Some(p) => format!("{scheme}://{host}:{p}"),
        None => format!("{scheme}://{host}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origins(value: &str) -> Result<Vec<String>, InvalidCorsOrigins> {
        CorsPolicy::parse(value).map(|p| p.origins().to_vec())
    }

    #[test]
    fn a_star_alone_allows_any_origin() {
        // Act
        let star = CorsPolicy::parse(" * ");

        // Assert
        assert_eq!(star, Ok(CorsPolicy::any_origin()));
        assert!(star.is_ok_and(|p| p.allows_any_origin() && p.to_string() == "*"));
    }

    #[test]
    fn a_list_of_origins_is_normalised_as_browsers_send_them() {
        // Act
        let parsed = origins(
            "https://App.Example.com, http://localhost:5173,http://127.0.0.1:80,\
             https://a.example:443,http://[::1]:8080,https://app.example.com,",
        );

        // Assert
        assert_eq!(
            parsed,
            Ok(vec![
                "https://app.example.com".to_owned(),
                "http://localhost:5173".to_owned(),
                "http://127.0.0.1".to_owned(),
                "https://a.example".to_owned(),
                "http://[::1]:8080".to_owned(),
            ])
        );
    }

    #[test]
    fn blank_means_no_origin() {
        for value in ["", " ", ","] {
            // Act
            let policy = CorsPolicy::parse(value);

            // Assert
            assert_eq!(policy, Ok(CorsPolicy::none()), "{value:?}");
            assert!(policy.is_ok_and(|p| p.is_none() && p.to_string() == "none"));
        }
    }

    #[test]
    fn anything_but_scheme_host_and_port_is_refused() {
        for (value, reason) in [
            ("https://app.example.com/", "no path"),
            ("https://app.example.com/app", "no path"),
            ("https://app.example.com?x=1", "no path"),
            ("https://app.example.com#top", "no path"),
            ("app.example.com", "scheme://host[:port]"),
            ("localhost:5173", "scheme://host[:port]"),
            ("https://", "scheme://host[:port]"),
            ("https://user:pw@app.example.com", "no user name"),
            ("https://app.example.com:", "empty port"),
            ("https://app.example.com:99999", "1 to 65535"),
            ("https://app.example.com:0", "1 to 65535"),
            ("https://app.example.com:8o", "1 to 65535"),
            ("https://app.example.com:+80", "1 to 65535"),
            ("https://app example.com", "scheme://host[:port]"),
            ("1http://app.example.com", "scheme://host[:port]"),
            ("*,https://app.example.com", "stand alone"),
            ("https://app.example.com,*", "stand alone"),
        ] {
            // Act
            let refused = CorsPolicy::parse(value);

            // Assert
            let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(message.contains(reason), "{value}: {message:?}");
        }
    }
}
