//! Entities with secondary indexes on a [`kv_store::StorageBackend`].
//!
//! A table's records and all their index entries change in one atomic write batch. Reads go
//! through [`AccessPath`]s — an index, an equality prefix, a range on the next column, a
//! direction and a limit — and [`planner`] chooses the path for a set of predicates and an
//! ordering. Nothing here knows SQL.

pub mod access;
pub mod admission;
pub mod alter;
pub mod asyncs;
pub(crate) mod catalog_entry;
pub mod codec;
pub mod counts;
pub mod database;
pub mod definition;
pub mod error;
pub mod index_build;
pub mod jobs;
pub mod load;
pub mod loads;
pub mod locks;
pub mod maintenance;
pub mod payload;
pub mod planner;
pub mod queue_upkeep;
pub mod reader;
pub mod record;
pub mod resume;
pub mod row_access;
pub mod schema;
pub(crate) mod seen_keys;
pub mod splits;
pub mod store;
pub mod system;
pub mod ttl;
pub mod value;
pub mod verify;
pub mod views;
pub mod workload;

pub use access::{AccessPath, ColumnRange, Seek};
pub use alter::TableChange;
pub use asyncs::AsyncStore;
pub use catalog_entry::TABLE_FORMAT;
pub use codec::{compare, SortOrder};
pub use database::{Database, RowStore};
pub use definition::{row_table, EntityKey, IndexDefinition, TableDefinition};
pub use error::{StoreError, StoreResult};
pub use jobs::{JobQueue, NewJob, QueueConfig, QueueStat, Submitted};
pub use load::DEFAULT_LOAD_BATCH;
pub use loads::LoadRecord;
pub use maintenance::{Maintenance, MaintenanceReport, MaintenanceSettings};
pub use payload::EntryPayload;
pub use planner::{
    choose_access_path, choose_access_path_reading, AccessPlan, ColumnPredicate, OrderKey,
    Predicate,
};
pub use reader::{IndexEntry, StoreReader};
pub use record::{ListRef, ValueRef, RECORD_FORMAT};
pub use row_access::{RowAccess, RowReader};
pub use schema::{
    ColumnDef, IndexColumn, IndexSpec, LoaderSpec, Row, TableSchema, TtlSpec, MAX_TTL_SECONDS,
};
pub use store::{Clock, Entity, IndexedEntityStore, Mutation, WriteOutcome};
pub use system::{Job, JobV1, ListConfig, User, JOBS_FORMAT};
pub use value::{fit_decimal, integral, ColumnType, Value, MICROS_PER_DAY};
pub use verify::{Problem, VerifyReport};
pub use views::{ViewDefinition, VIEW_FORMAT};
