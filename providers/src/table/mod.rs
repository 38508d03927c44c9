//! Tables as DataFusion sees them: [`QuiverTable`], a Quiver table as a `TableProvider`
//! (the access path of each scan chosen once, writes as [`crate::write::DmlExec`]); the
//! loaders of tables that mirror another service's rows (`loader`); and [`CallTable`], a
//! table function's call as a table.

mod calls;
mod loader;
mod provider;

pub use calls::{CallTable, TableCall};
pub use loader::{grpc, ForwardedHeaders, LoaderExec, DEFAULT_LOADER_TIMEOUT_SECS};
pub use provider::QuiverTable;

pub(crate) use loader::{LoaderOptions, TableLoader};
pub(crate) use provider::build_scan;
