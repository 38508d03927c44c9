//! `ALTER TABLE t ADD COLUMN c type [NOT NULL] [DEFAULT e]`, `RENAME COLUMN a TO b`,
//! `DROP COLUMN c` and `RENAME TO u`, carried out by the store (`TableChange`). Rows that
//! exist when a column is added read its default as evaluated at that moment (as in
//! PostgreSQL); a volatile default (`random()`, `uuid()`) would give them all one value, so
//! it is refused there (`expr/defaults.rs`).

use datafusion::error::{DataFusionError, Result};
use datafusion::sql::sqlparser::ast::{AlterTable, AlterTableOperation, RenameTableNameKind};
use indexed_store::{Database, TableChange};

use super::columns::column_def;
use super::dispatch::DdlOutcome;
use crate::error::{store_err, SqlError};
use crate::expr::default_value;
use crate::names::{check_namespace, ident, table_name};

/// Runs ALTER TABLE: each operation in order, each its own catalog change.
pub(crate) fn alter_table(
    db: &Database,
    alter: &AlterTable,
    namespace: &str,
    only: Option<&str>,
) -> Result<DdlOutcome> {
    let table = table_name(&alter.name, namespace)?;
    check_namespace(&table, only)?;
    if db.table(&table).is_none() {
        return if alter.if_exists {
            Ok(DdlOutcome::Nothing)
        } else {
            Err(store_err(indexed_store::StoreError::UnknownTable(table)))
        };
    }
    let mut current = table;
    for op in &alter.operations {
        let change = match op {
            AlterTableOperation::AddColumn {
                if_not_exists,
                column_def: c,
                column_position: None,
                ..
            } => {
                let (mut column, primary) = column_def(c)?;
                if primary {
                    return Err(unsupported(
                        "ADD COLUMN ... PRIMARY KEY",
                        "a table's primary key is fixed when it is created: create a new table and INSERT INTO ... SELECT",
                    ));
                }
                if *if_not_exists && has_column(db, &current, &column.name) {
                    continue;
                }
                if let Some(text) = &column.default {
                    column.missing = Some(default_value(text, &column.name, &column.ty)?);
                }
                TableChange::AddColumn(column)
            }
            AlterTableOperation::RenameColumn {
                old_column_name,
                new_column_name,
            } => TableChange::RenameColumn {
                from: ident(old_column_name),
                to: ident(new_column_name),
            },
            AlterTableOperation::DropColumn {
                column_names,
                if_exists,
                ..
            } => {
                for c in column_names {
                    let name = ident(c);
                    if *if_exists && !has_column(db, &current, &name) {
                        continue;
                    }
                    db.alter_table(&current, TableChange::DropColumn(name))
                        .map_err(store_err)?;
                }
                continue;
            }
            AlterTableOperation::RenameTable { table_name: to } => {
                let (RenameTableNameKind::To(to) | RenameTableNameKind::As(to)) = to;
                let (ns, _) = crate::names::split_name(&current);
                let renamed = table_name(to, ns)?;
                if crate::names::split_name(&renamed).0 != ns {
                    return Err(unsupported(
                        "RENAME TO another schema",
                        "rename within the table's schema; to move rows, INSERT INTO ... SELECT",
                    ));
                }
                db.alter_table(&current, TableChange::Rename(renamed.clone()))
                    .map_err(store_err)?;
                current = renamed;
                continue;
            }
            other => return Err(unsupported(
                &format!("ALTER TABLE ... {other}"),
                "Quiver alters tables with ADD COLUMN, RENAME COLUMN, DROP COLUMN and RENAME TO",
            )),
        };
        db.alter_table(&current, change).map_err(store_err)?;
    }
    Ok(DdlOutcome::AlteredTable(current))
}

/// True when `table` has a column of that name (for ADD ... IF NOT EXISTS, DROP ... IF EXISTS).
fn has_column(db: &Database, table: &str, column: &str) -> bool {
    db.table(table)
        .is_some_and(|t| t.schema().column_index(column).is_some())
}

fn unsupported(what: &str, instead: &str) -> DataFusionError {
    SqlError::Unsupported {
        what: what.to_owned(),
        context: "in Quiver".into(),
        instead: instead.to_owned(),
    }
    .into()
}
