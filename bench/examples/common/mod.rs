//! What the profiling examples share: the reference `accounts` table loaded into a database
//! in a temp dir, and the first command-line argument.

use std::sync::Arc;

use indexed_store::workload::{accounts, accounts_schema};
use indexed_store::Database;
use providers::Quiver;

/// A session over `rows` reference accounts (seed 42), flushed and compacted; the temp dir
/// lives as long as the returned guard. `BLOCK_BYTES` in the environment sets RocksDB's
/// block size (to compare block sizes with one build).
pub fn loaded(rows: u64) -> (tempfile::TempDir, Quiver) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut options = kv_store::RocksOptions::default();
    if let Some(bytes) = std::env::var("BLOCK_BYTES")
        .ok()
        .and_then(|b| b.parse().ok())
    {
        options.block_bytes = bytes;
    }
    let db = Arc::new(Database::open_with(dir.path(), options).expect("open"));
    let store = db.create_table(accounts_schema()).expect("create accounts");
    store.load(accounts(42, rows), 10_000).expect("load");
    db.flush().expect("flush");
    db.compact().expect("compact");
    (dir, Quiver::new(db))
}

/// The first argument as a number, or `default`.
pub fn arg(default: u64) -> u64 {
    std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}
