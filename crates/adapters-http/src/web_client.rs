//! The web client: a plain HTML, CSS and JavaScript page served at `/`, embedded in the binary
//! (no build step, no CDN), so that whoever runs the service sees the waiting room, the seat
//! map and the countdown. The page talks only to the public API, like any other client.

use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{self, ServiceConfig};
use actix_web::HttpResponse;

/// The page's Content-Security-Policy: everything from this origin only, no inline script or
/// style, no framing, no plugins.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The content type of the page's scripts (ES modules).
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

/// One embedded file: where it is served, its content type, and its bytes.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

/// The entry for the ES module `web/<name>`, served at `/<name>`.
macro_rules! script {
    ($name:literal) => {
        Asset {
            path: concat!("/", $name),
            content_type: JAVASCRIPT,
            body: include_str!(concat!("../web/", $name)),
        }
    };
}

/// Every file of the client. Scripts are ES modules that import each other by these paths.
const ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: include_str!("../web/index.html"),
    },
    Asset {
        path: "/app.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../web/app.css"),
    },
    script!("app.js"),
    script!("api.js"),
    script!("messages.js"),
    script!("view.js"),
    script!("queue.js"),
    script!("seats.js"),
    script!("hold.js"),
    script!("wallet.js"),
    script!("session.js"),
];

/// The paths the client is served at (for tests and the route list).
pub fn asset_paths() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|a| a.path)
}

/// The answer of one file: never cached without revalidation (a new binary serves new files
/// at the same paths), sniffing off, and the page's security policy.
fn serve(asset: &'static Asset) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        ))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-cache")))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .insert_header((
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .insert_header((
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .body(asset.body)
}

/// Registers `GET` and `HEAD` of every file of the client (another method is 405). These
/// routes are not part of the API, so they stay out of the OpenAPI document.
pub fn configure(cfg: &mut ServiceConfig) {
    for asset in ASSETS {
        cfg.service(
            web::resource(asset.path)
                .route(web::get().to(move || async move { serve(asset) }))
                .route(web::head().to(move || async move { serve(asset) })),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_its_script_as_a_module_and_its_style() {
        // Arrange
        let page = ASSETS[0].body;

        // Assert
        assert!(page.contains(r#"<script type="module" src="/app.js"></script>"#));
        assert!(page.contains(r#"<link rel="stylesheet" href="/app.css">"#));
    }

    #[test]
    fn the_page_has_no_inline_script_or_style() {
        // Arrange
        let page = ASSETS[0].body;

        // Assert: the policy would block them
        assert_eq!(page.matches("<script").count(), 1);
        assert!(!page.contains("<style"));
        assert!(!page.contains(" style="));
        assert!(!page.contains(" onclick="));
    }

    #[test]
    fn every_imported_module_is_served() {
        for asset in ASSETS.iter().filter(|a| a.content_type == JAVASCRIPT) {
            for line in asset.body.lines().filter(|l| l.starts_with("import ")) {
                // Arrange
                let path = line
                    .rsplit_once(" from \"./")
                    .and_then(|(_, rest)| rest.strip_suffix("\";"))
                    .map(|file| format!("/{file}"))
                    .unwrap_or_default();

                // Assert
                assert!(
                    asset_paths().any(|p| p == path),
                    "{}: `{line}` names no served module",
                    asset.path
                );
            }
        }
    }
}
