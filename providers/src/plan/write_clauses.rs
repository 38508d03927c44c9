//! `ON CONFLICT` and `RETURNING`: the parts of an INSERT, UPDATE or DELETE that DataFusion's
//! SQL planner refuses.
//!
//! They are taken off the statement before DataFusion plans it ([`take`]), planned over the
//! target table's columns ([`TakenClauses::plan`]), and kept in a logical node above the
//! write ([`WriteClauses`]). The physical planner ([`QuiverQueryPlanner`]) hands them to the
//! table's `DmlExec`, which applies them inside its one atomic write, so EXPLAIN, prepared
//! statements and the plan cache treat the statement like any other write.

use std::cmp::Ordering;
use std::fmt;
use std::hash::Hash;
use std::ops::ControlFlow;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNode;
use datafusion::common::{DFSchema, DFSchemaRef, TableReference};
use datafusion::datasource::source_as_provider;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::SessionState;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{
    Expr, ExprSchemable, Extension, LogicalPlan, UserDefinedLogicalNode,
    UserDefinedLogicalNodeCore, WriteOp,
};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{
    self, visit_expressions_mut, AssignmentTarget, ConflictTarget as AstTarget, ExprWithAlias,
    Ident, OnConflict, OnConflictAction, OnInsert, SelectItem, Statement, TableFactor,
};

use crate::error::SqlError;
use crate::expr::simplify;
use crate::names::{ident, last_name};
use crate::table::QuiverTable;
use crate::write::{Conflict, ConflictTarget, ConflictUpdate, DmlExec, Returning};

/// The name `DO UPDATE` reads the proposed row by, as in PostgreSQL.
const EXCLUDED: &str = "excluded";

/// The clauses taken off a statement, still as parsed.
pub(crate) struct TakenClauses {
    returning: Option<Vec<SelectItem>>,
    on_conflict: Option<OnConflict>,
    /// The name the statement gives the table (its alias, or its own name).
    alias: Option<Ident>,
}

/// Takes ON CONFLICT and RETURNING off an INSERT, UPDATE or DELETE (inside EXPLAIN too);
/// None when it has neither. MySQL's `ON DUPLICATE KEY UPDATE` is refused by name.
pub(crate) fn take(statement: &mut DFStatement) -> Result<Option<TakenClauses>> {
    let s = match statement {
        DFStatement::Statement(s) => s.as_mut(),
        DFStatement::Explain(e) => return take(&mut e.statement),
        _ => return Ok(None),
    };
    let taken = match s {
        Statement::Insert(insert) => {
            let on_conflict = match insert.on.take() {
                None => None,
                Some(OnInsert::OnConflict(c)) => Some(c),
                Some(OnInsert::DuplicateKeyUpdate(_)) => {
                    return Err(SqlError::Unsupported {
                        what: "ON DUPLICATE KEY UPDATE".into(),
                        context: "in Quiver".into(),
                        instead: "write INSERT ... ON CONFLICT (key columns) DO UPDATE SET col = excluded.col".into(),
                    }
                    .into())
                }
                Some(other) => {
                    return Err(SqlError::Unsupported {
                        what: other.to_string().trim().to_owned(),
                        context: "in Quiver".into(),
                        instead: "write INSERT ... ON CONFLICT (key columns) DO NOTHING or DO UPDATE".into(),
                    }
                    .into())
                }
            };
            let alias = insert.table_alias.take().map(|a| a.alias);
            TakenClauses {
                returning: insert.returning.take(),
                on_conflict,
                alias,
            }
        }
        Statement::Update(update) => TakenClauses {
            returning: update.returning.take(),
            on_conflict: None,
            alias: match &update.table.relation {
                TableFactor::Table { alias, .. } => alias.as_ref().map(|a| a.name.clone()),
                _ => None,
            },
        },
        Statement::Delete(delete) => TakenClauses {
            returning: delete.returning.take(),
            on_conflict: None,
            alias: None,
        },
        _ => return Ok(None),
    };
    if taken.returning.is_none() && taken.on_conflict.is_none() {
        // An INSERT's alias is only of use to the clauses; DataFusion refuses it.
        return Ok(None);
    }
    Ok(Some(taken))
}

impl TakenClauses {
    /// The write `plan` (a `Dml`, or EXPLAIN of one) with the clauses planned above it.
    pub(crate) fn plan(self, plan: LogicalPlan, state: &SessionState) -> Result<LogicalPlan> {
        if let LogicalPlan::Explain(explain) = &plan {
            let inner = self.plan(explain.plan.as_ref().clone(), state)?;
            return datafusion::logical_expr::LogicalPlanBuilder::from(inner)
                .explain(explain.verbose, false)?
                .build();
        }
        let LogicalPlan::Dml(dml) = &plan else {
            return Err(DataFusionError::Internal(format!(
                "RETURNING / ON CONFLICT above a {} plan",
                plan.display()
            )));
        };
        let name = self
            .alias
            .as_ref()
            .map(ident)
            .unwrap_or_else(|| dml.table_name.table().to_owned());
        let arrow = dml.target.schema();
        let table = Arc::new(DFSchema::try_from_qualified_schema(
            TableReference::bare(name.clone()),
            &arrow,
        )?);
        let returning = match &self.returning {
            None => None,
            Some(items) => Some(returning_exprs(items, &table, state)?),
        };
        let conflict = match self.on_conflict {
            None => None,
            Some(c) => {
                if matches!(dml.op, WriteOp::Insert(InsertOp::Replace)) {
                    return Err(SqlError::Unsupported {
                        what: "ON CONFLICT with INSERT OR REPLACE".into(),
                        context: "in Quiver".into(),
                        instead: "use one of them: ON CONFLICT DO UPDATE merges, INSERT OR REPLACE replaces the whole row".into(),
                    }
                    .into());
                }
                Some(conflict_clause(c, &plan, &name, &table, state)?)
            }
        };
        let mut clause_exprs: Vec<&Expr> = returning.iter().flatten().collect();
        if let Some(u) = conflict.as_ref().and_then(|c| c.update.as_ref()) {
            clause_exprs.extend(u.assignments.iter().map(|(_, e)| e));
            clause_exprs.extend(u.selection.iter());
        }
        if clause_exprs.iter().any(|e| {
            e.exists(|e| Ok(matches!(e, Expr::Placeholder(_))))
                .unwrap_or(true)
        }) {
            return Err(SqlError::Unsupported {
                what: "a parameter ($1) in RETURNING or ON CONFLICT DO UPDATE".into(),
                context: "in Quiver".into(),
                instead: "pass the value in the inserted row and read it as excluded.column".into(),
            }
            .into());
        }
        let schema = match &returning {
            Some(exprs) => {
                let fields = exprs
                    .iter()
                    .map(|e| e.to_field(&table))
                    .collect::<Result<Vec<_>>>()?;
                Arc::new(DFSchema::new_with_metadata(fields, Default::default())?)
            }
            None => plan.schema().clone(),
        };
        Ok(LogicalPlan::Extension(Extension {
            node: Arc::new(WriteClauses {
                input: plan,
                table,
                returning,
                conflict,
                schema,
            }),
        }))
    }
}

/// The RETURNING list as expressions over the table's columns (`*` is every column).
fn returning_exprs(
    items: &[SelectItem],
    table: &DFSchema,
    state: &SessionState,
) -> Result<Vec<Expr>> {
    let mut exprs = Vec::new();
    for item in items {
        let (expr, alias) = match item {
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => {
                exprs.extend(table.columns().into_iter().map(Expr::Column));
                continue;
            }
            SelectItem::UnnamedExpr(e) => (e.clone(), None),
            SelectItem::ExprWithAlias { expr, alias } => (expr.clone(), Some(alias.clone())),
            SelectItem::ExprWithAliases { .. } => {
                return Err(SqlError::Unsupported {
                    what: format!("RETURNING {item}"),
                    context: "in Quiver".into(),
                    instead: "give each returned expression one name (expr AS name)".into(),
                }
                .into())
            }
        };
        exprs.push(state.create_logical_expr_from_sql_expr(ExprWithAlias { expr, alias }, table)?);
    }
    Ok(exprs)
}

/// The ON CONFLICT clause, its target checked against the table's keys and its DO UPDATE
/// planned over the existing row (the table's name) and the proposed one (`excluded`).
fn conflict_clause(
    clause: OnConflict,
    plan: &LogicalPlan,
    name: &str,
    table: &DFSchemaRef,
    state: &SessionState,
) -> Result<ConflictClause> {
    let schema = write_target(plan)?;
    let target = match &clause.conflict_target {
        None => ConflictTarget::Any,
        Some(AstTarget::Columns(columns)) => {
            let mut named: Vec<String> = columns.iter().map(ident).collect();
            named.sort();
            let mut pk = schema.primary_key.clone();
            pk.sort();
            if named == pk {
                ConflictTarget::PrimaryKey
            } else {
                let unique = schema.indexes.iter().find(|i| {
                    let mut cols: Vec<String> = i.columns.iter().map(|c| c.name.clone()).collect();
                    cols.sort();
                    i.unique && !i.partial && cols == named
                });
                match unique {
                    Some(i) => ConflictTarget::unique(&schema, i),
                    None => {
                        return Err(SqlError::NoConflictKey {
                            table: schema.name.clone(),
                            columns: columns.iter().map(ident).collect::<Vec<_>>().join(", "),
                        }
                        .into())
                    }
                }
            }
        }
        Some(AstTarget::OnConstraint(constraint)) => {
            let wanted = constraint.to_string().to_lowercase();
            match schema.indexes.iter().find(|i| i.unique && i.name == wanted) {
                Some(i) => ConflictTarget::unique(&schema, i),
                None => {
                    return Err(SqlError::NoConflictKey {
                        table: schema.name.clone(),
                        columns: format!("ON CONSTRAINT {constraint}"),
                    }
                    .into())
                }
            }
        }
    };
    let update = match clause.action {
        OnConflictAction::DoNothing => None,
        OnConflictAction::DoUpdate(_) if target == ConflictTarget::Any => {
            return Err(SqlError::Unsupported {
                what: "ON CONFLICT DO UPDATE without a conflict target".into(),
                context: "in Quiver (nor in PostgreSQL)".into(),
                instead: "name the key: ON CONFLICT (id) DO UPDATE SET ...".into(),
            }
            .into())
        }
        OnConflictAction::DoUpdate(update) => {
            let joined = joined_schema(table)?;
            let mut assignments = Vec::new();
            for a in update.assignments {
                let column =
                    match &a.target {
                        AssignmentTarget::ColumnName(n) => last_name(n),
                        AssignmentTarget::Tuple(_) => return Err(SqlError::Unsupported {
                            what: "a tuple assignment in ON CONFLICT DO UPDATE".into(),
                            context: "in Quiver".into(),
                            instead:
                                "assign each column on its own: SET a = excluded.a, b = excluded.b"
                                    .into(),
                        }
                        .into()),
                    };
                if schema.column_index(&column).is_none() {
                    return Err(DataFusionError::Plan(format!(
                        "unknown column '{column}' in table '{}' (ON CONFLICT DO UPDATE SET)",
                        schema.name
                    )));
                }
                let value = existing_qualified(a.value, name);
                assignments.push((column, sql_expr(state, value, &joined)?));
            }
            let selection = update
                .selection
                .map(|w| sql_expr(state, existing_qualified(w, name), &joined))
                .transpose()?;
            Some(ConflictUpdateExprs {
                assignments,
                selection,
            })
        }
    };
    Ok(ConflictClause { target, update })
}

fn sql_expr(state: &SessionState, expr: ast::Expr, schema: &DFSchema) -> Result<Expr> {
    state.create_logical_expr_from_sql_expr(ExprWithAlias { expr, alias: None }, schema)
}

/// `e` with every unqualified column qualified by the table's name: in DO UPDATE a bare
/// column is the existing row's, as in PostgreSQL, and `excluded.col` the proposed row's.
fn existing_qualified(mut e: ast::Expr, table: &str) -> ast::Expr {
    let _ = visit_expressions_mut(&mut e, |e| {
        if let ast::Expr::Identifier(column) = e {
            *e = ast::Expr::CompoundIdentifier(vec![Ident::new(table), column.clone()]);
        }
        ControlFlow::<()>::Continue(())
    });
    e
}

/// The existing row's columns followed by the proposed row's, qualified `excluded`.
fn joined_schema(table: &DFSchema) -> Result<DFSchema> {
    let mut fields: Vec<(Option<TableReference>, Arc<Field>)> =
        table.iter().map(|(q, f)| (q.cloned(), f.clone())).collect();
    fields.extend(
        table
            .fields()
            .iter()
            .map(|f| (Some(TableReference::bare(EXCLUDED)), f.clone())),
    );
    DFSchema::new_with_metadata(fields, Default::default())
}

/// The Quiver table a write plan changes.
fn write_target(plan: &LogicalPlan) -> Result<Arc<indexed_store::TableSchema>> {
    let LogicalPlan::Dml(dml) = plan else {
        return Err(DataFusionError::Internal("not a write".into()));
    };
    let provider = source_as_provider(&dml.target)?;
    match provider.downcast_ref::<QuiverTable>() {
        Some(t) => Ok(t.access().schema()),
        None => Err(SqlError::Unsupported {
            what: "ON CONFLICT".into(),
            context: format!("on table '{}'", dml.table_name),
            instead: "write to a Quiver table".into(),
        }
        .into()),
    }
}

/// DO UPDATE as planned: assignments and WHERE over the joined schema.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
struct ConflictUpdateExprs {
    assignments: Vec<(String, Expr)>,
    selection: Option<Expr>,
}

/// ON CONFLICT as planned.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd)]
struct ConflictClause {
    target: ConflictTarget,
    update: Option<ConflictUpdateExprs>,
}

impl fmt::Display for ConflictClause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            ConflictTarget::PrimaryKey => write!(f, "ON CONFLICT (primary key)")?,
            ConflictTarget::Unique { index, .. } => {
                write!(f, "ON CONFLICT (unique index {index})")?
            }
            ConflictTarget::Any => write!(f, "ON CONFLICT")?,
        }
        match &self.update {
            None => write!(f, " DO NOTHING"),
            Some(u) => {
                let sets: Vec<String> = u
                    .assignments
                    .iter()
                    .map(|(c, e)| format!("{c} = {e}"))
                    .collect();
                write!(f, " DO UPDATE SET {}", sets.join(", "))?;
                if let Some(w) = &u.selection {
                    write!(f, " WHERE {w}")?;
                }
                Ok(())
            }
        }
    }
}

/// A write with its ON CONFLICT and RETURNING clauses; its output is the RETURNING list
/// (or the write's `count`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WriteClauses {
    input: LogicalPlan,
    /// The table's columns, qualified by the name the statement gives it.
    table: DFSchemaRef,
    returning: Option<Vec<Expr>>,
    conflict: Option<ConflictClause>,
    schema: DFSchemaRef,
}

impl PartialOrd for WriteClauses {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        match self.input.partial_cmp(&other.input) {
            Some(Ordering::Equal) => match self.returning.partial_cmp(&other.returning) {
                Some(Ordering::Equal) => self.conflict.partial_cmp(&other.conflict),
                o => o,
            },
            o => o,
        }
    }
}

impl UserDefinedLogicalNodeCore for WriteClauses {
    fn name(&self) -> &str {
        "WriteClauses"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    /// None shown to DataFusion: they read the table's columns, not the write's `count`
    /// output that DataFusion's analyzer would resolve them against. They are coerced when
    /// compiled (`Session::create_physical_expr`), and hold no parameters (see `plan`).
    fn expressions(&self) -> Vec<Expr> {
        Vec::new()
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "WriteClauses:")?;
        if let Some(c) = &self.conflict {
            write!(f, " {c}")?;
        }
        if let Some(r) = &self.returning {
            let items: Vec<String> = r.iter().map(|e| e.to_string()).collect();
            write!(f, " RETURNING {}", items.join(", "))?;
        }
        Ok(())
    }

    fn with_exprs_and_inputs(
        &self,
        _exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> Result<Self> {
        Ok(WriteClauses {
            input: inputs.pop().unwrap_or_else(|| self.input.clone()),
            ..self.clone()
        })
    }
}

/// True when a plan writes: a `Dml`, or one under its clauses.
pub fn is_write(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Dml(_) | LogicalPlan::Copy(_) => true,
        LogicalPlan::Extension(e) => e.node.as_any().is::<WriteClauses>(),
        _ => false,
    }
}

/// True when a write returns rows (RETURNING) rather than its count.
pub fn returns_rows(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Extension(e) => e
            .node
            .as_any()
            .downcast_ref::<WriteClauses>()
            .is_some_and(|w| w.returning.is_some()),
        _ => false,
    }
}

/// The write inside a plan: itself, or the one under its clauses.
pub(crate) fn write_of(plan: &LogicalPlan) -> &LogicalPlan {
    match plan {
        LogicalPlan::Extension(e) if e.node.as_any().is::<WriteClauses>() => e.node.inputs()[0],
        other => other,
    }
}

/// DataFusion's physical planner, taught [`WriteClauses`].
#[derive(Debug, Default)]
pub struct QuiverQueryPlanner;

#[async_trait]
impl QueryPlanner for QuiverQueryPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        DefaultPhysicalPlanner::with_extension_planners(vec![Arc::new(WriteClausesPlanner)])
            .create_physical_plan(logical_plan, session)
            .await
    }
}

/// Plans [`WriteClauses`] into the `DmlExec` the write below it planned to.
struct WriteClausesPlanner;

#[async_trait]
impl ExtensionPlanner for WriteClausesPlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        session: &dyn Session,
        _planning_ctx: &PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(node) = node.as_any().downcast_ref::<WriteClauses>() else {
            return Ok(None);
        };
        let Some(dml) = physical_inputs
            .first()
            .and_then(|p| p.downcast_ref::<DmlExec>())
        else {
            return Err(DataFusionError::Internal(
                "RETURNING / ON CONFLICT over a write that is not a Quiver table's".into(),
            ));
        };
        let returning = match &node.returning {
            None => None,
            Some(exprs) => {
                let compiled = exprs
                    .iter()
                    .map(|e| compile_clause(session, e, &node.table))
                    .collect::<Result<Vec<_>>>()?;
                let fields: Vec<Field> = node
                    .schema
                    .fields()
                    .iter()
                    .map(|f| f.as_ref().clone())
                    .collect();
                Some(Returning {
                    input: Arc::new(node.table.as_arrow().clone()),
                    exprs: compiled,
                    schema: Arc::new(Schema::new(fields)),
                })
            }
        };
        let conflict = match &node.conflict {
            None => None,
            Some(c) => Some(Arc::new(compile_conflict(
                c,
                &dml.table(),
                &node.table,
                session,
            )?)),
        };
        Ok(Some(Arc::new(dml.with_clauses(returning, conflict)?)))
    }
}

/// A clause's expression as the write runs it (see `table::simplify`).
fn compile_clause(
    session: &dyn Session,
    e: &Expr,
    schema: &DFSchema,
) -> Result<Arc<dyn datafusion::physical_expr::PhysicalExpr>> {
    let e = simplify(session, e.clone(), schema)?;
    session.create_physical_expr(e, schema)
}

fn compile_conflict(
    clause: &ConflictClause,
    schema: &indexed_store::TableSchema,
    table: &DFSchema,
    session: &dyn Session,
) -> Result<Conflict> {
    let update = match &clause.update {
        None => None,
        Some(u) => {
            let joined = joined_schema(table)?;
            let compile = |e: &Expr| compile_clause(session, e, &joined);
            let assignments = u
                .assignments
                .iter()
                .map(|(column, e)| {
                    let i = schema.column_index(column).ok_or_else(|| {
                        DataFusionError::Plan(format!(
                            "unknown column '{column}' in table '{}'",
                            schema.name
                        ))
                    })?;
                    Ok((i, compile(e)?))
                })
                .collect::<Result<Vec<_>>>()?;
            let fields: Vec<Field> = joined
                .iter()
                .map(|(q, f)| {
                    let name = match q {
                        Some(q) if q.table() == EXCLUDED => format!("{EXCLUDED}.{}", f.name()),
                        _ => f.name().clone(),
                    };
                    f.as_ref().clone().with_name(name)
                })
                .collect();
            Some(ConflictUpdate {
                assignments,
                selection: u.selection.as_ref().map(compile).transpose()?,
                joined: Arc::new(Schema::new(fields)),
            })
        }
    };
    Ok(Conflict {
        target: clause.target.clone(),
        update,
        text: clause.to_string(),
    })
}
