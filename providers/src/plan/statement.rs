//! Planning a statement: parsing (row values expanded, Quiver's COPY FROM), the rewrites
//! before DataFusion plans it (COPY FROM as an INSERT, DEFAULT in VALUES, ON CONFLICT and
//! RETURNING taken out), the checks of what Quiver cannot do right, and the plan-cache entry
//! with its fast plan.

use std::sync::Arc;

use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SessionState;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::{DFParser, Statement as DFStatement};
use datafusion::sql::sqlparser::dialect::GenericDialect;

use super::cache::{is_cacheable, CachedStatement};
use super::defaults::fill_default_keywords;
use super::fast_read::{analyze, depends_on_time_or_chance, may_be_fast};
use super::files::{access_of, copied_file, copy_from_as_insert, parse_with_copy_from};
use super::write_clauses::{take, write_of};
use crate::error::SqlError;
use crate::expr::expand_row_values;

/// The scope a plan is cached under: the namespace, and the time zone when one is set.
pub(crate) fn scope_key(namespace: String, zone: Option<String>) -> String {
    match zone {
        Some(zone) => format!("{namespace} @ {zone}"),
        None => namespace,
    }
}

/// The scope of a plan planned in `state` (see [`Quiver`]'s plan cache).
pub(crate) fn scope_of(state: &SessionState) -> String {
    let options = state.config().options();
    scope_key(
        options.catalog.default_schema.clone(),
        options.execution.time_zone.clone(),
    )
}

/// Plans a statement as a plan-cache entry (its logical plan, and its fast plan when it has
/// the shape), with whether the cache may keep it.
pub(crate) async fn plan_entry(
    state: &SessionState,
    sql: &str,
    statement: DFStatement,
    scope: &str,
    version: u64,
) -> Result<(Arc<CachedStatement>, bool)> {
    let plan = plan_statement(state, statement).await?;
    let cacheable = is_cacheable(&plan);
    // The fast path reads the plan as DataFusion optimizes it, placeholders in place; a
    // plan the optimizer cannot take that way is simply planned each time.
    let optimized = if cacheable && may_be_fast(&plan) && !depends_on_time_or_chance(&plan) {
        state.optimize(&plan).ok()
    } else {
        None
    };
    let (fast, fast_write) = match &optimized {
        Some(o @ LogicalPlan::Dml(_)) => (None, super::fast_write::analyze(o)),
        Some(o) => (analyze(o), None),
        None => (None, None),
    };
    let cached = Arc::new(CachedStatement::new(
        sql, scope, version, plan, fast, fast_write,
    ));
    Ok((cached, cacheable))
}

/// Plans a (non-DDL) statement: DataFusion plans it without its ON CONFLICT and RETURNING,
/// which are planned above the write (see `write_clauses.rs`); then the plan is checked.
pub(crate) async fn plan_statement(
    state: &SessionState,
    mut statement: DFStatement,
) -> Result<LogicalPlan> {
    if let Some(file) = copied_file(&statement) {
        access_of(state).check(file)?;
    }
    copy_from_as_insert(state, &mut statement).await?;
    fill_default_keywords(state, &mut statement).await?;
    let clauses = take(&mut statement)?;
    let mut plan = state.statement_to_plan(statement).await?;
    if let Some(clauses) = clauses {
        plan = clauses.plan(plan, state)?;
    }
    check_plan(&plan)?;
    Ok(plan)
}

/// Refuses, by name, what a plan asks for that Quiver cannot do right.
fn check_plan(plan: &LogicalPlan) -> Result<()> {
    reject_list_ordering(plan)?;
    reject_write_subqueries(plan)
}

/// A write's WHERE is evaluated row by row against the table itself (see `rules/queries_only.rs`),
/// which a subquery cannot be.
fn reject_write_subqueries(plan: &LogicalPlan) -> Result<()> {
    use datafusion::common::tree_node::TreeNode;
    use datafusion::logical_expr::{DmlStatement, Expr, WriteOp};
    let LogicalPlan::Dml(DmlStatement { op, input, .. }) = write_of(plan) else {
        return Ok(());
    };
    let statement = match op {
        WriteOp::Update => "UPDATE",
        WriteOp::Delete => "DELETE",
        _ => return Ok(()),
    };
    let mut found = false;
    input.apply(|node| {
        if let LogicalPlan::Filter(f) = node {
            found |= f.predicate.exists(|e| {
                Ok(matches!(
                    e,
                    Expr::ScalarSubquery(_) | Expr::Exists(_) | Expr::InSubquery(_)
                ))
            })?;
        }
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    })?;
    if found {
        return Err(SqlError::Unsupported {
            what: format!("a subquery in the WHERE of {statement}"),
            context: "in Quiver".into(),
            instead: "select the keys first, then write by key (WHERE id IN ('a', 'b', ...))"
                .into(),
        }
        .into());
    }
    Ok(())
}

/// ORDER BY a list column has no meaningful order here: refuse it by name.
fn reject_list_ordering(plan: &datafusion::logical_expr::LogicalPlan) -> Result<()> {
    use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
    use datafusion::logical_expr::{ExprSchemable, LogicalPlan};
    let mut found: Option<String> = None;
    plan.apply(|node| {
        if let LogicalPlan::Sort(sort) = node {
            let schema = sort.input.schema();
            for s in &sort.expr {
                if let Ok(field) = s.expr.to_field(schema) {
                    if matches!(
                        field.1.data_type(),
                        datafusion::arrow::datatypes::DataType::List(_)
                            | datafusion::arrow::datatypes::DataType::LargeList(_)
                    ) {
                        found = Some(s.expr.to_string());
                        return Ok(TreeNodeRecursion::Stop);
                    }
                }
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    match found {
        Some(col) => Err(DataFusionError::Plan(format!("cannot ORDER BY list column {col}: lists have no sort order in Quiver; order by a scalar column"))),
        None => Ok(()),
    }
}

/// The one statement of `sql`; `what` names it in the error when there are several.
pub(crate) fn one_statement(sql: &str, what: &str) -> Result<DFStatement> {
    let mut statements = parse(sql)?;
    if statements.len() != 1 {
        return Err(DataFusionError::Plan(format!(
            "{what} is one statement, found {} (use run_script for several)",
            statements.len()
        )));
    }
    Ok(statements.remove(0))
}

/// Parses SQL into statements with DataFusion's parser.
/// Row-value comparisons (`(a, b) < (1, 2)`) come out in their expanded form (see
/// `expr/keyset.rs`).
pub fn parse(sql: &str) -> Result<Vec<DFStatement>> {
    let statements = match DFParser::parse_sql_with_dialect(sql, &GenericDialect {}) {
        Ok(statements) => statements,
        // DataFusion's parser knows COPY ... TO only; COPY ... FROM is Quiver's.
        Err(e) => parse_with_copy_from(sql).ok_or(e)?.into_iter().collect(),
    };
    Ok(statements
        .into_iter()
        .map(|mut s| {
            expand_row_values(&mut s);
            s
        })
        .collect())
}
