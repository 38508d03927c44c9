//! Schema `sys`: the database describing itself, one file per table, each a [`SysTable`]
//! (GreptimeDB's system schema is the model): its name and its rows as they are now, read
//! when a statement names it.

mod indexes;
mod loads;
mod plan_cache;
mod plan_cache_stats;
mod queues;
mod transactions;

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{MemTable, SchemaProvider};
use datafusion::datasource::TableProvider;
use datafusion::error::Result;
use indexed_store::Database;

use crate::plan::PlanCache;

/// What the `sys` tables are read from: the database, and the session's plan cache.
pub(crate) struct SysContext {
    pub db: Arc<Database>,
    pub plan_cache: Option<Arc<PlanCache>>,
}

/// One table of schema `sys`.
pub(crate) trait SysTable: Send + Sync {
    /// Its name in schema `sys`.
    fn name(&self) -> &'static str;

    /// Its rows, as they are now.
    fn batch(&self, ctx: &SysContext) -> Result<RecordBatch>;
}

/// The tables of schema `sys`.
const TABLES: [&dyn SysTable; 6] = [
    &indexes::Indexes,
    &queues::Queues,
    &plan_cache::PlanCacheTable,
    &plan_cache_stats::PlanCacheStatsTable,
    &loads::Loads,
    &transactions::Transactions,
];

/// Schema `sys` of a session.
pub(crate) struct SysSchema(SysContext);

impl SysSchema {
    /// The `sys` tables of `db`, with `plan_cache` the session's cache (if it has one).
    pub(crate) fn new(db: Arc<Database>, plan_cache: Option<Arc<PlanCache>>) -> Self {
        SysSchema(SysContext { db, plan_cache })
    }
}

impl std::fmt::Debug for SysSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SysSchema")
    }
}

#[async_trait]
impl SchemaProvider for SysSchema {
    fn table_names(&self) -> Vec<String> {
        TABLES.iter().map(|t| t.name().to_owned()).collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let Some(table) = TABLES.iter().find(|t| t.name() == name) else {
            return Ok(None);
        };
        let batch = table.batch(&self.0)?;
        Ok(Some(Arc::new(MemTable::try_new(
            batch.schema(),
            vec![vec![batch]],
        )?)))
    }

    fn table_exist(&self, name: &str) -> bool {
        TABLES.iter().any(|t| t.name() == name)
    }
}
