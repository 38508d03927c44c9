//! Column defaults and ALTER TABLE.
//!
//! A column's `DEFAULT` is kept in the catalog as SQL text, checked when the table is created
//! (an expression without columns whose type casts to the column's), and handed to
//! DataFusion's INSERT planner through `TableProvider::get_column_default`, so an INSERT that
//! omits the column (or writes `DEFAULT`) stores it: a constant, `now()`, or
//! `gen_random_uuid()` (DataFusion's `uuid()`) for generated keys.
//!
//! `ALTER TABLE t ADD COLUMN c type [NOT NULL] [DEFAULT e]`, `RENAME COLUMN a TO b`,
//! `DROP COLUMN c` and `RENAME TO u` are carried out by the store (`indexed_store::alter`).
//! Rows that exist when a column is added read the default as evaluated at that moment (as
//! in PostgreSQL); a volatile default (`random()`, `uuid()`) would give them all one value,
//! so it is refused there.

use std::ops::ControlFlow;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::can_cast_types;
use datafusion::arrow::datatypes::Schema;
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Expr, ExprSchemable};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    self, visit_expressions_mut, AlterTable, AlterTableOperation, ObjectName, RenameTableNameKind,
};
use indexed_store::{ColumnDef, ColumnType, Database, TableChange, Value};

use crate::convert::{arrow_type, scalar_to_value};
use crate::ddl::{check_namespace, ident, table_name, DdlOutcome};
use crate::error::SqlError;
use crate::store_err;

/// Plans defaults: DataFusion's functions, no tables (a default reads no columns).
static DEFAULTS: LazyLock<SessionContext> = LazyLock::new(SessionContext::new);

/// A DEFAULT as stored: PostgreSQL's `gen_random_uuid()` written as DataFusion's `uuid()`.
/// Checked to plan without columns and to cast to the column's type.
pub(crate) fn default_text(expr: &ast::Expr, column: &str, ty: &ColumnType) -> Result<String> {
    let mut expr = expr.clone();
    let _ = visit_expressions_mut(&mut expr, |e| {
        if let ast::Expr::Function(f) = e {
            if f.name.to_string().eq_ignore_ascii_case("gen_random_uuid") {
                f.name = ObjectName::from(vec![ast::Ident::new("uuid")]);
            }
        }
        ControlFlow::<()>::Continue(())
    });
    let text = expr.to_string();
    default_expr(&text, ty).map_err(|e| {
        DataFusionError::Plan(format!("invalid DEFAULT {text} for column '{column}': {e}"))
    })?;
    Ok(text)
}

/// A stored DEFAULT planned, cast to the column's type.
pub(crate) fn default_expr(text: &str, ty: &ColumnType) -> Result<Expr> {
    let empty = DFSchema::empty();
    let expr = DEFAULTS.parse_sql_expr(text, &empty)?;
    let target = arrow_type(ty);
    let found = expr.get_type(&empty)?;
    if !can_cast_types(&found, &target) {
        return Err(DataFusionError::Plan(format!(
            "a {found} value does not fit a {ty} column"
        )));
    }
    expr.cast_to(&target, &empty)
}

/// The value a stored DEFAULT has now (what existing rows read when its column is added).
fn default_value(text: &str, column: &str, ty: &ColumnType) -> Result<Value> {
    let expr = default_expr(text, ty)?;
    if expr.is_volatile() {
        return Err(SqlError::Unsupported {
            what: format!("ADD COLUMN {column} ... DEFAULT {text}"),
            context: "on a table that may hold rows (every existing row would get the same value)".into(),
            instead: "add the column without this DEFAULT, fill it with UPDATE, then set new rows' values in INSERT".into(),
        }
        .into());
    }
    let physical = DEFAULTS.create_physical_expr(expr, &DFSchema::empty())?;
    let one_row = RecordBatch::try_new_with_options(
        Arc::new(Schema::empty()),
        vec![],
        &datafusion::arrow::array::RecordBatchOptions::new().with_row_count(Some(1)),
    )?;
    let scalar = ScalarValue::try_from_array(&physical.evaluate(&one_row)?.into_array(1)?, 0)?;
    scalar_to_value(&scalar).ok_or_else(|| {
        DataFusionError::Plan(format!(
            "DEFAULT {text} of column '{column}' has no {ty} value"
        ))
    })
}

/// A column as declared in CREATE TABLE or ADD COLUMN, and whether it says PRIMARY KEY.
pub(crate) fn column_def(c: &ast::ColumnDef) -> Result<(ColumnDef, bool)> {
    let name = ident(&c.name);
    let mut column = ColumnDef::new(&name, crate::ddl::parse_type(&c.data_type.to_string())?);
    let mut primary = false;
    for opt in &c.options {
        match &opt.option {
            ast::ColumnOption::NotNull => column.nullable = false,
            ast::ColumnOption::Null => {}
            ast::ColumnOption::PrimaryKey(_) => {
                column.nullable = false;
                primary = true;
            }
            ast::ColumnOption::Default(e) => {
                column.default = Some(default_text(e, &name, &column.ty)?);
            }
            other => {
                return Err(DataFusionError::Plan(format!(
                    "unsupported option '{other}' on column '{name}': Quiver knows NOT NULL, NULL, PRIMARY KEY and DEFAULT"
                )))
            }
        }
    }
    Ok((column, primary))
}

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
                let (ns, _) = crate::catalog::split_name(&current);
                let renamed = table_name(to, ns)?;
                if crate::catalog::split_name(&renamed).0 != ns {
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

/// `INSERT ... VALUES (1, DEFAULT)`: each bare `DEFAULT` becomes its column's DEFAULT
/// expression (NULL without one), as in PostgreSQL. DataFusion would read it as a column.
pub(crate) async fn fill_default_keywords(
    state: &datafusion::execution::SessionState,
    statement: &mut datafusion::sql::parser::Statement,
) -> Result<()> {
    use datafusion::sql::parser::Statement as DFStatement;
    let DFStatement::Statement(s) = statement else {
        return Ok(());
    };
    let ast::Statement::Insert(insert) = s.as_mut() else {
        return Ok(());
    };
    let Some(ast::SetExpr::Values(values)) = insert.source.as_mut().map(|q| q.body.as_mut()) else {
        return Ok(());
    };
    let is_default = |e: &ast::Expr| matches!(e, ast::Expr::Identifier(i) if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("default"));
    if !values.rows.iter().any(|r| r.content.iter().any(is_default)) {
        return Ok(());
    }
    let ast::TableObject::TableName(name) = &insert.table else {
        return Ok(());
    };
    let reference = datafusion::common::TableReference::from(name.to_string().as_str());
    let provider = state
        .schema_for_ref(reference.clone())?
        .table(reference.table())
        .await?;
    let Some(table) = provider
        .as_ref()
        .and_then(|p| p.downcast_ref::<crate::table::QuiverTable>())
    else {
        return Ok(());
    };
    let schema = table.access().schema();
    let targets: Vec<String> = if insert.columns.is_empty() {
        schema.columns.iter().map(|c| c.name.clone()).collect()
    } else {
        insert.columns.iter().map(crate::ddl::last_name).collect()
    };
    let parser_dialect = datafusion::sql::sqlparser::dialect::GenericDialect {};
    for row in &mut values.rows {
        for (i, e) in row.content.iter_mut().enumerate() {
            if !is_default(e) {
                continue;
            }
            let default = targets
                .get(i)
                .and_then(|c| schema.columns.iter().find(|d| &d.name == c))
                .and_then(|c| c.default.clone());
            *e = match default {
                Some(text) => datafusion::sql::sqlparser::parser::Parser::new(&parser_dialect)
                    .try_with_sql(&text)?
                    .parse_expr()?,
                None => ast::Expr::Value(ast::Value::Null.into()),
            };
        }
    }
    Ok(())
}
