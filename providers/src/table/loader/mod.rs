//! Loaders: tables that mirror rows another service owns.
//!
//! A table created `WITH (loader = 'http://...' | 'grpc://...', loader_key = 'owner',
//! reload_after = '1h', forward_headers = 'authorization, x-token', loader_timeout = '30s')`
//! fetches its rows when a query needs them: the keys a query's WHERE names
//! (`owner = 'a'`, `owner IN ('a', 'b')`), or the whole table when it has no loader key,
//! that were never loaded or were loaded longer ago than `reload_after`. A query on a keyed
//! table that names no key reads what is there.
//!
//! A load replaces the key's rows in one atomic write: the upstream's rows are upserted
//! (with their index entries) and the key's rows the upstream no longer returns are deleted.
//! A load that fails (upstream down, slow, an error status, malformed JSON, a row that does
//! not fit) writes nothing, keeps the key's previous rows, and fails the query with
//! `SqlError::LoadFailed` naming the upstream and the problem. Concurrent queries that need
//! the same key share one load (single flight). What each key's loads did is kept in the
//! store (`indexed_store::LoadRecord`) and shown by `sys.loads`.
//!
//! The scan of such a table that needs keys loaded is wrapped in a [`LoaderExec`], which
//! EXPLAIN shows and which loads before its scan reads (so a plain EXPLAIN loads nothing);
//! a scan that needs nothing loaded is a plain scan.

mod documents;
mod exec;
pub mod grpc;
mod options;
mod table_loader;
mod upstream;

pub use exec::LoaderExec;
pub use options::DEFAULT_LOADER_TIMEOUT_SECS;
pub use table_loader::{ForwardedHeaders, TableLoader};

pub(crate) use options::LoaderOptions;
pub(crate) use table_loader::Need;
