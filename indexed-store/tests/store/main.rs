//! The store on real RocksDB, without SQL: one behaviour per module, built as one binary
//! (see docs/tests.md).

mod common;

mod codec;
mod concurrency;
mod counts;
mod database;
mod errors;
mod index_counts;
mod index_maintenance;
mod jobs;
mod load;
mod record;
mod resume;
mod scans;
mod transactions;
mod ttl;
mod verify;
