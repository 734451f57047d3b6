//! The HTTP adapter of the concert reservation service: actix-web routes for every endpoint of
//! the API contract, JWT/admin-key/queue-token extractors, RFC 9457 problem answers, idempotent
//! charges and payments, Prometheus metrics, CORS for pages on other origins, and the OpenAPI 3
//! document with Swagger UI; and the web client served at `/`.

pub mod auth;
pub mod body;
pub mod cors;
pub mod dto;
pub mod errors;
pub mod headers;
pub mod idempotency;
pub mod metrics;
pub mod openapi;
pub mod responses;
pub mod routes;
pub mod server;
pub mod web_client;

pub use auth::{mint_user_jwt, mint_user_jwt_for, AuthenticatedUser, JwtRules, Operator};
pub use cors::CorsPolicy;
pub use errors::{ApiError, Problem};
pub use metrics::Metrics;
pub use server::{build_server, openapi_document, HttpConfig};
