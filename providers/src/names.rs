//! Names: the catalog and its schemas, how a table's stored name splits into namespace and
//! table, identifiers as DataFusion normalises them, and the namespace a restricted session
//! may change.

use datafusion::error::{DataFusionError, Result};
use datafusion::sql::sqlparser::ast::{Ident, ObjectName, ObjectNamePart};

use crate::error::SqlError;

/// The catalog's name when registered by [`crate::register`].
pub const CATALOG_NAME: &str = "quiver";
/// The schema of tables without a namespace.
pub const DEFAULT_SCHEMA: &str = "public";
/// The schema of the index listing.
pub const SYS_SCHEMA: &str = "sys";

/// Splits a stored table name into (namespace, table).
pub fn split_name(stored: &str) -> (&str, &str) {
    match stored.split_once('.') {
        Some((ns, t)) => (ns, t),
        None => (DEFAULT_SCHEMA, stored),
    }
}

/// The stored name of `table` in `namespace`.
pub fn stored_name(namespace: &str, table: &str) -> String {
    if namespace == DEFAULT_SCHEMA {
        table.to_owned()
    } else {
        format!("{namespace}.{table}")
    }
}

/// An identifier as DataFusion normalises it: unquoted ones lower-cased.
pub(crate) fn ident(i: &Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_lowercase()
    }
}

/// A name as a quoted SQL identifier, which DataFusion takes as written.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The stored name for `[catalog.][schema.]table`.
pub(crate) fn table_name(name: &ObjectName, namespace: &str) -> Result<String> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(i) => Ok(ident(i)),
            other => Err(DataFusionError::Plan(format!(
                "unsupported name part {other}"
            ))),
        })
        .collect::<Result<_>>()?;
    match parts.as_slice() {
        [t] => Ok(stored_name(namespace, t)),
        [s, t] => Ok(stored_name(s, t)),
        [c, s, t] if c == CATALOG_NAME => Ok(stored_name(s, t)),
        _ => Err(DataFusionError::Plan(format!(
            "invalid table name '{name}'"
        ))),
    }
}

/// Refuses a table outside the only namespace a restricted session may touch.
pub(crate) fn check_namespace(table: &str, only: Option<&str>) -> Result<()> {
    match only {
        Some(ns) if split_name(table).0 != ns => Err(SqlError::OutsideNamespace {
            table: table.to_owned(),
            namespace: ns.to_owned(),
        }
        .into()),
        _ => Ok(()),
    }
}

/// The last part of a name (an index as DROP INDEX gives it, a column as INSERT or SET
/// names it), normalised like every identifier (a quoted name keeps its case).
pub(crate) fn last_name(name: &ObjectName) -> String {
    match name.0.last() {
        Some(ObjectNamePart::Identifier(i)) => ident(i),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}
