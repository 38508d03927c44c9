//! Column defaults: a `DEFAULT` kept in the catalog as SQL text, checked when the table is
//! created (an expression without columns whose type casts to the column's), planned for
//! INSERTs that omit the column, and evaluated once for the rows a column is added to.

use std::ops::ControlFlow;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::can_cast_types;
use datafusion::arrow::datatypes::Schema;
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Expr, ExprSchemable};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{self, visit_expressions_mut, ObjectName};
use indexed_store::{ColumnType, Value};

use crate::convert::{arrow_type, scalar_to_value};
use crate::error::SqlError;

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
pub(crate) fn default_value(text: &str, column: &str, ty: &ColumnType) -> Result<Value> {
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
