//! Whether an index's per-value counters (`table/counts.rs`) answer what an access path
//! selects: decided here, for the reader that reads them and for EXPLAIN that shows it.

use super::path::AccessPath;
use crate::schema::{keeps_counts, TableSchema};

/// Whether the counts answer what a path selects: its count (`columns` 0), or its distinct
/// values of the index's leading column with their entries (`columns` 1, a DISTINCT or a
/// facet). They do when the index keeps counts and the path constrains at most the leading
/// column (one equality prefix or a range), with no seek and no offset. EXPLAIN shows it
/// as `read=counters`.
pub fn counters_answer(schema: &TableSchema, path: &AccessPath, columns: usize) -> bool {
    let Some(index) = path.index.as_deref().and_then(|name| schema.index(name)) else {
        return false;
    };
    keeps_counts(schema, index)
        && columns <= 1
        && path.seek.is_none()
        && path.offset == 0
        && path.constrained_columns() <= 1
        // Values under several prefixes would need merging in path order.
        && (columns == 0 || path.prefixes.len() <= 1)
}
