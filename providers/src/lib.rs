//! DataFusion over Quiver: a catalog, table providers whose scans push filters, limits and
//! sorts into index range scans ([`IndexScanExec`]), DML, Quiver's DDL, the job and list
//! functions, and [`Quiver`], the session that ties them together.
//!
//! # The life of a statement
//!
//! 1. **Text in.** [`Quiver::execute`] (`session/quiver.rs`) looks the text up in the
//!    session's plan cache (`plan/cache.rs`), keyed by namespace, time zone and the
//!    database's catalog version. A hit skips the next four steps.
//! 2. **Parse.** DataFusion's parser, with Quiver's COPY FROM and row-value comparisons
//!    expanded to their PostgreSQL meaning (`plan/statement.rs`, `expr/keyset.rs`).
//! 3. **DDL runs now.** CREATE/DROP TABLE, INDEX and VIEW and ALTER TABLE never reach
//!    DataFusion: `ddl/dispatch.rs` checks the session's namespace and runs them against the
//!    database, which bumps the catalog version (every cached plan is stale).
//! 4. **Plan.** Names resolve through the catalog (`catalog/`: a schema per namespace,
//!    views planned as their SELECT, `sys` tables); a table is a [`QuiverTable`]
//!    (`table/provider.rs`). Rewrites first (`plan/files.rs`, `plan/defaults.rs`), then
//!    DataFusion plans, with ON CONFLICT and RETURNING planned above the write
//!    (`plan/write_clauses.rs`), and Quiver's optimizer rules (`plan/rules/`).
//! 5. **Fast plan.** A statement of a shape Quiver runs itself (a keyed read, a top-k, a
//!    write by key) also gets a fast plan (`plan/fast_read.rs`, `plan/fast_write.rs`) that
//!    builds its scan straight from the bound parameters, without DataFusion's planner.
//! 6. **Scan.** [`QuiverTable`] turns filters into column predicates (`expr/predicates.rs`)
//!    and lets the store choose the access path once (`table::build_scan`); the scan
//!    (`scan/`) walks the index under one snapshot, reads only the columns it needs,
//!    evaluates what the path leaves, and stops at its fetch.
//! 7. **Write.** INSERT, UPDATE and DELETE run as [`DmlExec`] (`write/`): one atomic batch
//!    of the store, each UPDATE or DELETE acting on the current version of every row it
//!    touches, large INSERTs streamed into the bulk path.
//! 8. **Functions.** `submit_job(...)`, `claim_jobs(...)`, `list(...)` are table functions
//!    (`functions/`): a job operation runs when its plan executes; a list read runs the
//!    list's saved query as its own statement through the plan cache.
//! 9. **Transactions.** Between BEGIN and COMMIT (`session/control.rs`,
//!    `session/transaction.rs`) the same steps run, with a task context that names the
//!    transaction (`scan/reads.rs`): every scan reads its snapshot merged with its writes so
//!    far, and writes are staged in it until COMMIT. Outside one, every scan of a statement
//!    shares one snapshot.
//!
//! # Layers
//!
//! Each folder imports only those before it: `names`, `error`, `convert` → `expr` → `scan`
//! → `write` → `table` → `plan` → `catalog` → `functions` → `ddl` → `session`. Where a lower
//! layer needs the session (planning a namespace's views and lists; the check of rows
//! written to `lists`), it asks through the seams in `catalog/planner.rs`, which
//! `session/context.rs` fills.

pub mod catalog;
pub mod convert;
pub mod ddl;
mod error;
pub mod expr;
pub mod functions;
pub mod names;
pub mod plan;
pub mod scan;
pub mod session;
pub mod table;
pub mod write;

pub use catalog::{NamespacePlanner, QuiverCatalog};
pub use error::{sql_error, store_error, LoadProblem, SqlError};
pub use functions::{register_list_functions, runs_job_operation, ListRead, CURSOR_COLUMN};
pub use names::{CATALOG_NAME, DEFAULT_SCHEMA, SYS_SCHEMA};
pub use plan::{
    is_write, parse, returns_rows, CachedStatementStats, DistinctScan, FileAccess, OffsetScan,
    PlanCache, PlanCacheLimits, PlanCacheStats,
};
pub use scan::{IndexScanExec, ScanMode, StatementReads};
pub use session::{
    default_config, register, session_context, Control, ListPage, PreparedStatement, Quiver,
    Transaction,
};
pub use table::{grpc as loader_grpc, ForwardedHeaders, LoaderExec, QuiverTable};
pub use write::{DmlExec, WriteProgress};
