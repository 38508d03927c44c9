//! Quiver's optimizer rules, one per file: DataFusion's logical rules kept off writes
//! (`queries_only`), DISTINCT and GROUP BY answered by skip scans and facet walks
//! (`distinct`), OFFSET skipped inside the index walk (`offset`).

mod distinct;
mod offset;
mod queries_only;

pub use distinct::DistinctScan;
pub use offset::OffsetScan;
pub use queries_only::optimizer_rules;
