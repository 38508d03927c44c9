//! Reading a table: [`StoreReader`], a consistent view of one table under one snapshot.
//!
//! - `reader`: point gets, walks of an access path's entries and the records they lead to
//!   (fetched in sorted batches), full scans; `merge`, the walks of several prefixes merged.
//! - `facets`: counts, DISTINCT and facets, by skip scans or from the per-value counters
//!   (`counts`, the read side of `table/counts.rs`).
//! - `splits`: where to split a long walk so each core reads about as much.
//! - `row_access`: any table as rows ([`RowAccess`], [`RowReader`]), whatever its entity
//!   type: how the SQL layer reads and writes typed and SQL tables alike.
//! - `asyncs`: [`AsyncStore`], every call on tokio's blocking pool.

mod asyncs;
mod counts;
mod facets;
mod merge;
mod reader;
mod row_access;
mod splits;

pub use asyncs::AsyncStore;
pub use reader::{IndexEntry, StoreReader};
pub use row_access::{RowAccess, RowReader};
