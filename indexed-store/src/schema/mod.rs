//! What tables are: their columns, keys and indexes, how their entities map to keys and
//! records, where everything lives in the keyspace, and how definitions are kept in the
//! catalog.
//!
//! - `table_schema`: [`TableSchema`] (columns, primary key, index specs, TTL, loader) and
//!   its checks.
//! - `definition`: [`TableDefinition`] and [`IndexDefinition`], the functions that take an
//!   entity to its primary key, index entries, TTL basis and row; `records`, how a
//!   definition writes and reads its records.
//! - `keyspace`: every partition name and catalog key (the one place the layout is decided).
//! - `catalog_entry`, `views`: table schemas and views as the catalog stores them.
//! - `jobs`, `system`: the typed system tables `jobs`, `users` and `lists`.

mod catalog_entry;
mod definition;
mod jobs;
mod keyspace;
mod records;
mod system;
mod table_schema;
mod views;

pub use catalog_entry::TABLE_FORMAT;
pub use definition::{
    row_table, Condition, Entity, EntityKey, Extractor, FromRow, IndexDefinition, TableDefinition,
    ToRow,
};
pub use jobs::{
    jobs_definition, Job, JobV1, CANCELLED, FAILED, JOBS_FORMAT, QUEUED, RUNNING, SUCCEEDED,
};
pub use keyspace::{keeps_counts, CATALOG};
pub use system::{list_from_row, lists_definition, users_definition, ListConfig, User};
pub use table_schema::{
    ColumnDef, IndexColumn, IndexSpec, LoaderSpec, Row, TableSchema, TtlSpec, MAX_TTL_SECONDS,
};
pub use views::{ViewDefinition, VIEW_FORMAT};

pub(crate) use catalog_entry::{decode_table, encode_table};
pub(crate) use keyspace::{
    expiry_key, leading_orders, CatalogKey, FormatMarker, Partition, Partitions, COUNTS_HEADER,
    LOADS_PREFIX, TABLES_PREFIX, VIEWS_PREFIX,
};
pub(crate) use records::{decode_record, encode_record};
pub(crate) use views::{cycle_through, dependents};
