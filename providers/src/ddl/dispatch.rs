//! The one dispatcher of Quiver's DDL: which statements are DDL, the namespace checks of a
//! restricted session, and each statement to the file that runs it.

use std::sync::Arc;

use datafusion::error::Result;
use datafusion::sql::sqlparser::ast::{ObjectName, ObjectType, Statement};
use indexed_store::Database;

use super::{alter, create, views};
use crate::catalog::NamespacePlanner;
use crate::error::{store_err, SqlError};
use crate::names::{check_namespace, last_name, split_name, table_name, DEFAULT_SCHEMA};

/// What a DDL statement did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DdlOutcome {
    /// A table was created (or existed, with IF NOT EXISTS).
    CreatedTable(String),
    /// An index was created and filled.
    CreatedIndex(String),
    /// A table was dropped.
    DroppedTable(String),
    /// An index was dropped.
    DroppedIndex(String),
    /// A view was created or replaced.
    CreatedView(String),
    /// A view was dropped.
    DroppedView(String),
    /// A table was altered (its name after the change).
    AlteredTable(String),
    /// Nothing to do (IF EXISTS / IF NOT EXISTS).
    Nothing,
}

/// True for the statements Quiver runs itself (CREATE TABLE/INDEX, DROP TABLE/INDEX).
pub fn is_ddl(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::CreateTable(_)
            | Statement::CreateIndex(_)
            | Statement::CreateView(_)
            | Statement::AlterTable(_)
            | Statement::Drop {
                object_type: ObjectType::Table | ObjectType::Index | ObjectType::View,
                ..
            }
    )
}

/// The stored names a DDL statement touches (tables; for DROP INDEX, the index's table).
fn touched_tables(db: &Database, statement: &Statement, namespace: &str) -> Result<Vec<String>> {
    Ok(match statement {
        Statement::CreateTable(ct) => vec![table_name(&ct.name, namespace)?],
        Statement::CreateIndex(ci) => vec![table_name(&ci.table_name, namespace)?],
        Statement::AlterTable(alter) => vec![table_name(&alter.name, namespace)?],
        Statement::Drop {
            object_type: ObjectType::Table,
            names,
            ..
        } => names
            .iter()
            .map(|n| table_name(n, namespace))
            .collect::<Result<_>>()?,
        Statement::Drop {
            object_type: ObjectType::Index,
            names,
            ..
        } => names
            .iter()
            .filter_map(|n| db.index_owner(&last_name(n)))
            .collect(),
        _ => vec![],
    })
}

/// Runs the statement when it is Quiver DDL (tables, indexes, views); None for everything
/// else. A session restricted to one namespace (`only`) may change only that namespace's
/// tables; views are planned in `planner`'s sessions.
pub(crate) async fn run_ddl(
    db: &Arc<Database>,
    statement: &Statement,
    namespace: String,
    only: Option<&str>,
    planner: &dyn NamespacePlanner,
) -> Result<Option<DdlOutcome>> {
    let namespace = if namespace.is_empty() {
        DEFAULT_SCHEMA.to_owned()
    } else {
        namespace
    };
    if views::is_view_ddl(statement) {
        return views::run_view_ddl(db, statement, &namespace, only, planner)
            .await
            .map(Some);
    }
    if let (
        Some(ns),
        Statement::Drop {
            object_type: ObjectType::Index,
            names,
            ..
        },
    ) = (only, statement)
    {
        // Another namespace's index is not there for this session: answering "outside
        // your namespace" would tell that it exists.
        for n in names {
            let name = last_name(n);
            if db
                .index_owner(&name)
                .is_some_and(|t| split_name(&t).0 != ns)
            {
                return Err(SqlError::IndexNotFound(name).into());
            }
        }
    }
    if is_ddl(statement) {
        for table in touched_tables(db, statement, &namespace)? {
            check_namespace(&table, only)?;
        }
    }
    Ok(Some(match statement {
        Statement::CreateTable(ct) => create::create_table(db, ct, &namespace, only)?,
        Statement::CreateIndex(ci) => create::create_index(db, ci, &namespace)?,
        Statement::AlterTable(alter) => alter::alter_table(db, alter, &namespace, only)?,
        Statement::Drop {
            object_type: ObjectType::Table,
            if_exists,
            names,
            cascade,
            ..
        } => drop_tables(db, names, &namespace, *if_exists, *cascade)?,
        Statement::Drop {
            object_type: ObjectType::Index,
            if_exists,
            names,
            ..
        } => drop_indexes(db, names, *if_exists)?,
        _ => return Ok(None),
    }))
}

/// DROP TABLE [IF EXISTS] names [CASCADE].
fn drop_tables(
    db: &Database,
    names: &[ObjectName],
    namespace: &str,
    if_exists: bool,
    cascade: bool,
) -> Result<DdlOutcome> {
    let mut last = DdlOutcome::Nothing;
    for n in names {
        let name = table_name(n, namespace)?;
        if db.table(&name).is_none() && if_exists {
            continue;
        }
        db.drop_table_with(&name, cascade).map_err(store_err)?;
        last = DdlOutcome::DroppedTable(name);
    }
    Ok(last)
}

/// DROP INDEX [IF EXISTS] names.
fn drop_indexes(db: &Database, names: &[ObjectName], if_exists: bool) -> Result<DdlOutcome> {
    let mut last = DdlOutcome::Nothing;
    for n in names {
        let name = last_name(n);
        if db.index_owner(&name).is_none() && if_exists {
            continue;
        }
        db.drop_index(&name).map_err(store_err)?;
        last = DdlOutcome::DroppedIndex(name);
    }
    Ok(last)
}
