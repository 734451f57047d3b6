//! Raw SQL statements that PostgreSQL parses and plans once per connection.
//!
//! `diesel::sql_query` marks every statement "unsafe to cache", so diesel-async prepares it on
//! each call (a Parse/Describe round trip, then Bind/Execute) and PostgreSQL parses and plans it
//! every time. Profiling the bench (`scripts/bench`, BENCHMARKS.md) showed planning and parsing
//! to be about half of the database's CPU time. The statements of this crate are fixed strings
//! with `$n` parameters, so they are safe to keep: [`sql_query`] builds the same statement,
//! marked cacheable, and the connection keeps it as a named prepared statement keyed by its
//! text (one Bind/Execute round trip per later call).
//!
//! Plans are kept too (PostgreSQL's default `plan_cache_mode = auto`: after five executions a
//! statement runs on a cached generic plan unless that plan looks costlier than the custom
//! ones). Profiling showed planning to be about 40% of the database's CPU for a poll while every
//! statement was planned afresh. The one statement shape a generic plan got badly wrong (the
//! place-in-line lookup's idle count: a parameter cutoff the planner could not estimate, 80 ms at
//! 100k waiting instead of 0.2 ms) now has its cutoff written into the text (`queue.rs`,
//! `cutoff`), and `scripts/queue-plans.sh` explains the queue statements under
//! `force_generic_plan`, the worst case.

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, BoxedSqlQuery, Query, QueryFragment, QueryId, SqlQuery};
use diesel::serialize::ToSql;
use diesel::sql_types::HasSqlType;
use diesel::QueryResult;

/// A raw SQL statement that the connection prepares once and keeps. Bind its `$n` parameters
/// in order with [`Prepared::bind`], then run it with `diesel_async::RunQueryDsl`.
#[must_use = "a query does nothing until it is run"]
pub(crate) struct Prepared<'f>(BoxedSqlQuery<'f, Pg, SqlQuery>);

/// `diesel::sql_query`, kept as a prepared statement by the connection.
pub(crate) fn sql_query<'f>(sql: impl Into<String>) -> Prepared<'f> {
    Prepared(diesel::sql_query(sql).into_boxed())
}

impl<'f> Prepared<'f> {
    /// Binds the next `$n` parameter.
    pub(crate) fn bind<ST, V>(self, value: V) -> Self
    where
        Pg: HasSqlType<ST>,
        V: ToSql<ST, Pg> + Send + 'f,
        ST: Send + 'f,
    {
        Self(self.0.bind::<ST, V>(value))
    }
}

impl QueryFragment<Pg> for Prepared<'_> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &Pg) -> QueryResult<bool> {
        // The statement cache keys it by its SQL text (no static query id), so two different
        // texts never share a prepared statement.
        Ok(true)
    }
}

impl QueryId for Prepared<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for Prepared<'_> {
    type SqlType = diesel::sql_types::Untyped;
}
