//! DataFusion over Quiver: a catalog, table providers whose scans push filters, limits and
//! sorts into index range scans (`IndexScanExec`), DML, and Quiver's DDL.

pub(crate) mod alter;
pub mod bulk_insert;
pub mod catalog;
pub mod convert;
pub mod ddl;
pub mod distinct;
pub mod dml;
pub mod error;
pub(crate) mod fast_path;
pub(crate) mod fast_write;
pub mod files;
pub mod filters;
pub mod jobs_sql;
pub(crate) mod keyset;
pub mod lists;
pub mod loader;
pub mod offset;
pub mod optimizer;
pub mod plan_cache;
pub mod scan;
pub mod session;
pub mod statement;
pub mod table;
pub(crate) mod upsert;
pub(crate) mod views;
pub mod write_clauses;

/// A store error as DataFusion carries it (the source kept, its message unchanged).
pub(crate) fn store_err(e: indexed_store::StoreError) -> datafusion::error::DataFusionError {
    datafusion::error::DataFusionError::External(Box::new(e))
}

pub use bulk_insert::WriteProgress;
pub use catalog::{QuiverCatalog, CATALOG_NAME, DEFAULT_SCHEMA};
pub use distinct::DistinctScan;
pub use error::SqlError;
pub use files::FileAccess;
pub use lists::{register_list_functions, ListPage, ListRead, CURSOR_COLUMN};
pub use loader::{ForwardedHeaders, LoaderExec};
pub use offset::OffsetScan;
pub use plan_cache::{CachedStatementStats, PlanCache, PlanCacheLimits, PlanCacheStats};
pub use scan::{IndexScanExec, ScanMode};
pub use session::{default_config, register, session_context, Quiver};
pub use statement::PreparedStatement;
pub use table::QuiverTable;
