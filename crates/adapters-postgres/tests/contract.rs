//! The shared port contract (`store-contract`), run against PostgreSQL: every case gets a fresh
//! database copied from the migrated template.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::io::Write;

async fn fresh_pg_store() -> store_contract::StoreUnderTest {
    let Some(db) = common::TestDb::new().await else {
        // The suite's cases cannot be skipped one by one: skip the whole binary, loudly.
        let _ = writeln!(
            std::io::stderr(),
            "skipping the PostgreSQL contract suite: TEST_DATABASE_URL is not set"
        );
        std::process::exit(0);
    };
    let seeds = std::sync::Arc::new(domain::SeedSequence::starting_at(
        store_contract::CONTRACT_DRAW_SEED,
    ));
    store_contract::StoreUnderTest::from_store(db.store(16).await.with_seeds(seeds))
}

store_contract::store_contract_tests!(fresh_pg_store);
