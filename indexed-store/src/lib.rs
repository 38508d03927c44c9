//! Entities with secondary indexes on a [`kv_store::StorageBackend`].
//!
//! A table's records and all their index entries change in one atomic write batch. Reads go
//! through [`AccessPath`]s — an index, an equality prefix, a range on the next column, a
//! direction and a limit — and [`choose_access_path`] picks the path for a set of
//! predicates and an ordering. Nothing here knows SQL.
//!
//! # Layers
//!
//! Each folder imports only the folders above it in this list (and `error`, which imports
//! nothing of the crate):
//!
//! 1. [`encoding`]: values, the order-preserving key codec, the record format, format
//!    markers. Bytes in, values out.
//! 2. [`schema`]: what a table is (columns, keys, indexes, TTL), how its entities map to
//!    keys and records, and the keyspace: every partition name and catalog key.
//! 3. [`access`]: access paths and the planner that chooses them.
//! 4. [`table`]: [`IndexedEntityStore`] and everything that writes it (batches under key
//!    locks, per-value counts, bulk loads, index builds, TTL purges, verify).
//! 5. [`read`]: [`StoreReader`], a snapshot of one table: gets, walks, counts, facets,
//!    split points; and [`RowAccess`], any table as rows.
//! 6. [`queue`]: the `jobs` table as a work queue.
//! 7. [`database`]: a [`Database`], the catalog of tables on one backend, opened and
//!    upgraded as a whole, and its [`Transaction`]s.
//!
//! `workload` generates the reference `accounts` workload for the demo, tests and
//! benchmarks.
//!
//! # A write, step by step
//!
//! [`IndexedEntityStore::apply`] encodes each mutation (its primary key, record and index
//! entries: `table/write.rs`, `table/entries.rs`), takes the striped locks of every primary
//! key and claimed unique value, reads the stored rows, checks the mutations against them
//! (duplicate keys, unique violations), and writes records, entries and counter deltas as
//! one [`kv_store::WriteBatch`].
//!
//! # A read, step by step
//!
//! [`IndexedEntityStore::reader`] takes a snapshot; an [`AccessPath`] becomes byte ranges
//! over an index partition (`access/path.rs`); the reader walks them (`read/reader.rs`),
//! decoding only the columns asked for, and fetches the records entries lead to in sorted
//! batches from the same snapshot.

pub mod access;
pub mod database;
pub mod encoding;
mod error;
pub mod queue;
pub mod read;
pub mod schema;
pub mod table;
pub mod workload;

pub use access::{
    choose_access_path, choose_access_path_reading, counters_answer, AccessPath, AccessPlan,
    ColumnPredicate, ColumnRange, OrderKey, Predicate, Seek,
};
pub use database::{
    Database, Isolation, LoadRecord, Maintenance, MaintenanceReport, MaintenanceSettings, RowStore,
    TableChange, Transaction, TransactionInfo, TransactionOptions, TransactionStatus,
};
pub use encoding::{
    compare, describe, fit_decimal, integral, ColumnType, EntryPayload, ListRef, SortOrder, Value,
    ValueRef, MICROS_PER_DAY, RECORD_FORMAT,
};
pub use error::{CodecError, StoreError, StoreResult};
pub use queue::{JobQueue, NewJob, QueueConfig, QueueStat, Submitted};
pub use read::{AsyncStore, IndexEntry, RowAccess, RowReader, StoreReader};
pub use schema::{
    row_table, ColumnDef, Entity, EntityKey, IndexColumn, IndexDefinition, IndexSpec, Job, JobV1,
    ListConfig, LoaderSpec, Row, TableDefinition, TableSchema, TtlSpec, User, ViewDefinition,
    JOBS_FORMAT, MAX_TTL_SECONDS, TABLE_FORMAT, VIEW_FORMAT,
};
pub use table::{
    Clock, IndexedEntityStore, Mutation, Problem, VerifyReport, WriteOutcome, DEFAULT_LOAD_BATCH,
};
