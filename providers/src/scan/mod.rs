//! `IndexScanExec`: reads a Quiver table through an access path. It evaluates the filters
//! the path does not answer itself (so no FilterExec sits between a sort and the scan), stops
//! at its fetch, reads only index entries when they hold every needed column, and answers
//! DataFusion's sort pushdown when an index yields the requested order.

mod exec;
mod read;
mod reads;
mod snapshots;
mod spec;

pub(crate) use exec::visit_expressions;
pub use exec::IndexScanExec;
pub use reads::StatementReads;
pub use spec::ScanMode;
pub(crate) use spec::{skippable_keys, ScanSpec};
