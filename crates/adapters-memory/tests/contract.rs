//! Runs the whole store contract suite against the in-memory store on the real clock.

use adapters_memory::MemoryStore;
use domain::ports::Clock;
use domain::Timestamp;
use std::sync::Arc;
use store_contract::StoreUnderTest;

struct RealClock;

impl Clock for RealClock {
    fn now(&self) -> Timestamp {
        chrono::Utc::now()
    }
}

async fn fresh_memory_store() -> StoreUnderTest {
    let seeds = Arc::new(domain::SeedSequence::starting_at(
        store_contract::CONTRACT_DRAW_SEED,
    ));
    StoreUnderTest::from_store(MemoryStore::new(Arc::new(RealClock)).with_seeds(seeds))
}

store_contract::store_contract_tests!(fresh_memory_store);
