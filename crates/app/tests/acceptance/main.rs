//! Acceptance tests of issue 2, through HTTP against the whole running service, on the
//! in-memory store and on PostgreSQL.

mod common;
#[path = "../support/mod.rs"]
mod support;

mod admission;
mod cors;
mod expiry;
mod frontend;
mod hardening;
mod hostile;
mod idempotency;
mod isolation;
mod journey;
mod operators;
mod races;
mod refunds;
mod sale;
mod waitlist;
mod web_client;
