//! The seams between the catalog and the session above it: the catalog plans views, and the
//! lists' write check plans lists, each in a session of a namespace, which only the session
//! layer knows how to make ([`NamespacePlanner`]); and the session installs the checks that
//! rows written to a table must pass ([`WriteCheck`]), so the catalog knows no table's rules.

use std::sync::Arc;

use datafusion::prelude::SessionContext;

use crate::write::RowCheck;

/// Makes the sessions a namespace's views and lists are planned in (DataFusion's `Session`
/// trait plays this part for its catalog code).
pub trait NamespacePlanner: Send + Sync {
    /// A session of `namespace`, as its views are planned: restricted to that namespace,
    /// except the default namespace, whose views may name any schema.
    fn namespace_context(&self, namespace: &str) -> SessionContext;
}

/// Makes the check of the rows one statement writes to a table (made per statement, so it
/// may keep what it learns for the statement's rows).
pub type WriteCheck = Arc<dyn Fn() -> RowCheck + Send + Sync>;
