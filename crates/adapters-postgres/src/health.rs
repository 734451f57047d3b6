//! [`StoreHealth`]: answers when a pooled connection can run a query.

use crate::store::PgStore;
use async_trait::async_trait;
use diesel_async::RunQueryDsl;
use domain::ports::StoreHealth;
use domain::StoreError;
use futures::FutureExt;

#[async_trait]
impl StoreHealth for PgStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.db
            .autocommit(|conn| diesel::sql_query("SELECT 1").execute(conn).boxed())
            .await
            .map(|_| ())
    }
}
