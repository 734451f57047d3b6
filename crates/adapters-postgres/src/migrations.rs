//! Embedded schema migrations (`migrations/` at the workspace root).

use crate::errors::SetupError;
use crate::locks;
use diesel::sql_types::BigInt;
use diesel::Connection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::AsyncPgConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

/// Every migration of the schema, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

/// Applies every pending migration and returns the versions applied (empty when the schema is
/// current). Safe to run from several instances at once: a session advisory lock lets one
/// migrate while the others wait, then find nothing to do.
///
/// # Errors
/// [`SetupError::Unavailable`] when the database cannot be reached, [`SetupError::Migration`]
/// when a migration fails.
pub async fn run_migrations(database_url: &str) -> Result<Vec<String>, SetupError> {
    let url = database_url.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)
            .map_err(|e| SetupError::Unavailable(e.to_string()))?;
        let lock = |conn: &mut AsyncConnectionWrapper<AsyncPgConnection>, sql: &str| {
            diesel::RunQueryDsl::execute(
                diesel::sql_query(sql).bind::<BigInt, _>(locks::MIGRATIONS),
                conn,
            )
            .map_err(|e| SetupError::Unavailable(e.to_string()))
        };
        lock(&mut conn, "SELECT pg_advisory_lock($1)")?;
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map(|versions| versions.iter().map(ToString::to_string).collect::<Vec<_>>())
            .map_err(|e| SetupError::Migration(e.to_string()));
        // The lock also ends with the session; unlocking early just lets the others go sooner.
        let _ = lock(&mut conn, "SELECT pg_advisory_unlock($1)");
        applied
    })
    .await
    .map_err(|e| SetupError::Migration(format!("migration task failed: {e}")))?
}
