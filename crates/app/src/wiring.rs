//! Choosing and building the store: PostgreSQL with `DATABASE_URL`, else the in-memory store.

use crate::config::{Config, Resolved, Secret};
use adapters_memory::MemoryStore;
use adapters_postgres::{PgConfig, PgStore};
use anyhow::Context as _;
use application::{Ports, SystemClock, UuidV7Generator};
use domain::ports::Clock;
use std::sync::Arc;
use tracing::info;

/// Which store backs the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// The in-memory store (no `DATABASE_URL`): data is lost on exit.
    Memory,
    /// PostgreSQL.
    Postgres,
}

/// The ports over the configured store.
pub(crate) async fn ports(
    config: &Config,
    resolved: &Resolved,
) -> anyhow::Result<(Ports, StoreKind)> {
    match &config.database_url {
        None => memory_ports(config.demo_data).map(|p| (p, StoreKind::Memory)),
        Some(url) => postgres_ports(url, resolved)
            .await
            .map(|p| (p, StoreKind::Postgres)),
    }
}

/// The in-memory store on the system clock, seeded with demo data when asked.
fn memory_ports(demo_data: bool) -> anyhow::Result<Ports> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = MemoryStore::new(Arc::clone(&clock));
    if demo_data {
        let demo = store
            .seed_demo(clock.now())
            .context("seeding the demo data")?;
        info!(
            concerts = demo.concerts.len(),
            "no DATABASE_URL: using the in-memory store with demo data (data is lost on exit)"
        );
    } else {
        info!("no DATABASE_URL: using the in-memory store, empty (data is lost on exit)");
    }
    Ok(memory_ports_over(Arc::new(store), clock))
}

/// The ports, all on one in-memory store.
fn memory_ports_over(store: Arc<MemoryStore>, clock: Arc<dyn Clock>) -> Ports {
    Ports {
        catalogue: store.clone(),
        queue: store.clone(),
        reservations: store.clone(),
        wallets: store.clone(),
        waitlist: store.clone(),
        health: store,
        clock,
        ids: Arc::new(UuidV7Generator),
    }
}

/// An empty in-memory store, for what needs the application but no data (the OpenAPI
/// document).
pub(crate) fn empty_memory_ports() -> Ports {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = Arc::new(MemoryStore::new(Arc::clone(&clock)));
    memory_ports_over(store, clock)
}

/// Applies pending migrations, then connects the pool (failing fast when the database cannot
/// be reached at start-up; later outages answer 503 and heal on their own).
async fn postgres_ports(url: &Secret, resolved: &Resolved) -> anyhow::Result<Ports> {
    let store = connect_postgres(url, resolved).await?;
    let store = Arc::new(store);
    Ok(Ports {
        catalogue: store.clone(),
        queue: store.clone(),
        reservations: store.clone(),
        wallets: store.clone(),
        waitlist: store.clone(),
        health: store,
        clock: Arc::new(SystemClock),
        ids: Arc::new(UuidV7Generator),
    })
}

async fn connect_postgres(url: &Secret, resolved: &Resolved) -> anyhow::Result<PgStore> {
    migrate(url).await?;
    let pool_size = resolved.database_pool_size;
    let pg_config = PgConfig::new(url.expose())
        .with_pool_size(pool_size)
        .with_operation_timeout(resolved.store_operation_timeout);
    let store = adapters_postgres::connect(pg_config)
        .await
        .context("connecting to DATABASE_URL")?;
    info!(pool_size, "using the PostgreSQL store");
    Ok(store)
}

/// Applies every pending migration to the database.
pub(crate) async fn migrate(url: &Secret) -> anyhow::Result<()> {
    let applied = adapters_postgres::run_migrations(url.expose())
        .await
        .context("applying migrations to DATABASE_URL")?;
    if applied.is_empty() {
        info!("database schema is up to date");
    } else {
        info!(applied = ?applied, "applied database migrations");
    }
    Ok(())
}
