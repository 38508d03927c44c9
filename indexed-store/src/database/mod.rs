//! A [`Database`]: every table of one backend with its catalog, opened (and brought up to
//! this build's formats) as a whole.
//!
//! - `handle`: the handle, its tables and system tables, the catalog version.
//! - `open`, `upgrade`: opening, format checks and upgrades, dropping orphaned partitions.
//! - `ddl`, `alter`: creating and dropping tables, views and indexes; ALTER TABLE.
//! - `loads`: what each table's loader has done, per key.
//! - `maintenance`: the upkeep that runs on its own (TTL purges, expired leases, job
//!   retention).
//! - `transaction`, `intents`: transactions, and which keys each open one has written.

mod alter;
mod ddl;
mod handle;
mod intents;
mod loads;
mod maintenance;
mod open;
mod transaction;
mod upgrade;

pub use alter::TableChange;
pub use handle::{Database, RowStore, SYSTEM_TABLES};
pub use loads::{LoadRecord, LOAD_FORMAT};
pub use maintenance::{Maintenance, MaintenanceReport, MaintenanceSettings};
pub use transaction::{
    Isolation, Transaction, TransactionInfo, TransactionOptions, TransactionStatus,
};
