//! The RocksDB backend ([`RocksBackend`], `db.rs`) and how it is opened ([`RocksOptions`],
//! `options.rs`).

mod db;
mod options;

pub use db::RocksBackend;
pub use options::{Durability, RocksOptions};

pub(crate) use db::check_partition_name;
