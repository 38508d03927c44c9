//! Expressions as the store's scans and writes evaluate them: unqualified (over the table's
//! own batch), coerced and simplified as DataFusion's optimizer would leave them, compiled.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DFSchema};
use datafusion::error::Result;
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::PhysicalExpr;

/// The expression with every column unqualified (the scan evaluates it over its own batch).
pub(crate) fn unqualified(e: Expr) -> Result<Expr> {
    e.transform(|node| match node {
        Expr::Column(c) if c.relation.is_some() => Ok(Transformed::yes(Expr::Column(
            Column::new_unqualified(c.name),
        ))),
        other => Ok(Transformed::no(other)),
    })
    .map(|t| t.data)
}

/// Compiles a write's expressions over `schema` (see [`simplified`]).
pub(crate) fn compile(
    state: &dyn Session,
    exprs: &[Expr],
    schema: &SchemaRef,
) -> Result<Vec<Arc<dyn PhysicalExpr>>> {
    let df_schema = DFSchema::try_from(schema.as_ref().clone())?;
    exprs
        .iter()
        .map(|e| state.create_physical_expr(e.clone(), &df_schema))
        .collect()
}

/// A write's expressions unqualified, coerced and simplified over the table's columns.
/// Writes skip the logical optimizer (see `plan/rules/queries_only.rs`), and some functions run only in
/// the form the simplifier rewrites them to (`coalesce` becomes a CASE).
pub(crate) fn simplified(
    state: &dyn Session,
    exprs: &[Expr],
    schema: &SchemaRef,
) -> Result<Vec<Expr>> {
    let df_schema = DFSchema::try_from(schema.as_ref().clone())?;
    exprs
        .iter()
        .map(|e| simplify(state, unqualified(e.clone())?, &df_schema))
        .collect()
}

/// One expression coerced and simplified over `schema`, as the optimizer would leave it.
pub(crate) fn simplify(state: &dyn Session, e: Expr, schema: &DFSchema) -> Result<Expr> {
    use datafusion::logical_expr::simplify::SimplifyContext;
    use datafusion::optimizer::simplify_expressions::ExprSimplifier;
    let context = SimplifyContext::builder()
        .with_schema(Arc::new(schema.clone()))
        .with_config_options(state.config().options().clone())
        .with_query_execution_start_time(state.execution_props().query_execution_start_time)
        .build();
    let simplifier = ExprSimplifier::new(context);
    simplifier.simplify(simplifier.coerce(e, schema)?)
}
