//! Quiver's cross-crate integration tests, one behaviour per module, built as one binary:
//! DataFusion is linked once for all of them instead of once per file (see docs/tests.md).

mod alter_table;
mod awkward_values;
mod concurrent_statements;
mod crash_loop;
mod cursor_pages;
mod differential_sqlite;
mod fast_path_matches_planner;
mod fast_writes_match_planner;
mod file_import;
mod loaders;
mod plan_cache;
mod pushdown_matches_full_scan;
mod slt;
mod split_index_walks;
mod split_scan_snapshot;
mod transactions;
mod upserts;
