//! Writes without the planner: a prepared `INSERT ... VALUES`, `UPDATE ... WHERE` or
//! `DELETE ... WHERE` on one Quiver table is bound and handed to the same `DmlExec` that
//! DataFusion's planner gets from the table (`QuiverTable::insert_exec`, `update_exec`,
//! `delete_exec`), so both paths write alike: the same matcher scan, the same re-check of a
//! row that changed since it was read, the same atomic batch.
//!
//! As for reads (`fast_path.rs`), the shape is recognised once on the optimized plan with
//! its placeholders, and a parameter bound with another type than planned goes to the
//! planner instead.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::catalog::memory::MemorySourceConfig;
use datafusion::common::{DFSchema, DFSchemaRef, ParamValues, ScalarValue};
use datafusion::datasource::source_as_provider;
use datafusion::error::Result;
use datafusion::execution::session_state::SessionState;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{DmlStatement, Expr, LogicalPlan, WriteOp};
use datafusion::physical_plan::ColumnarValue;

use super::fast_read::{substitute, Parameters};
use crate::expr::unqualified;
use crate::table::QuiverTable;
use crate::write::DmlExec;

/// A write the fast path can run.
#[derive(Debug, Clone)]
pub(crate) struct FastWrite {
    table: Arc<dyn datafusion::datasource::TableProvider>,
    shape: WriteShape,
    parameters: Parameters,
}

#[derive(Debug, Clone)]
enum WriteShape {
    /// `INSERT INTO t [(cols)] VALUES (...), ...`: the VALUES cells, their schema, and the
    /// projection that puts them in the table's columns (casts, NULL for omitted columns).
    Insert {
        op: InsertOp,
        rows: Vec<Vec<Expr>>,
        values: DFSchemaRef,
        projection: Option<(Vec<Expr>, SchemaRef)>,
    },
    Update {
        assignments: Vec<(String, Expr)>,
        filters: Vec<Expr>,
    },
    Delete {
        filters: Vec<Expr>,
    },
}

/// The fast write of a DML statement, from its plan as optimized, when it has the shape.
pub(crate) fn analyze(plan: &LogicalPlan) -> Option<FastWrite> {
    let LogicalPlan::Dml(DmlStatement {
        target, op, input, ..
    }) = plan
    else {
        return None;
    };
    let table = source_as_provider(target).ok()?;
    if !table.is::<QuiverTable>() {
        return None;
    }
    let shape = match op {
        WriteOp::Insert(op) => insert_shape(*op, input)?,
        WriteOp::Update => {
            let LogicalPlan::Projection(p) = input.as_ref() else {
                return None;
            };
            let mut assignments = Vec::new();
            for e in &p.expr {
                if let Expr::Alias(a) = e {
                    let identity = matches!(a.expr.as_ref(), Expr::Column(c) if c.name == a.name);
                    if !identity {
                        assignments.push((a.name.clone(), unqualified((*a.expr).clone()).ok()?));
                    }
                }
            }
            WriteShape::Update {
                assignments,
                filters: filters_of(&p.input)?,
            }
        }
        WriteOp::Delete => WriteShape::Delete {
            filters: filters_of(input)?,
        },
        _ => return None,
    };
    let exprs: Vec<&Expr> = match &shape {
        WriteShape::Insert {
            rows, projection, ..
        } => rows
            .iter()
            .flatten()
            .chain(projection.iter().flat_map(|(p, _)| p))
            .collect(),
        WriteShape::Update {
            assignments,
            filters,
        } => assignments.iter().map(|(_, e)| e).chain(filters).collect(),
        WriteShape::Delete { filters } => filters.iter().collect(),
    };
    let parameters = Parameters::of(exprs)?;
    Some(FastWrite {
        table,
        shape,
        parameters,
    })
}

fn insert_shape(op: InsertOp, input: &LogicalPlan) -> Option<WriteShape> {
    let (projection, values) = match input {
        LogicalPlan::Projection(p) => {
            let schema = Arc::new(p.schema.as_arrow().clone());
            (Some((p.expr.clone(), schema)), p.input.as_ref())
        }
        other => (None, other),
    };
    let LogicalPlan::Values(v) = values else {
        return None;
    };
    Some(WriteShape::Insert {
        op,
        rows: v.values.clone(),
        values: v.schema.clone(),
        projection,
    })
}

/// The WHERE conjuncts of an UPDATE's or DELETE's input: filters over one scan of the
/// target and nothing else.
fn filters_of(plan: &LogicalPlan) -> Option<Vec<Expr>> {
    match plan {
        LogicalPlan::Filter(f) => {
            let mut filters = filters_of(&f.input)?;
            for c in split_conjunction(&f.predicate) {
                filters.push(unqualified(c.clone()).ok()?);
            }
            Some(filters)
        }
        LogicalPlan::TableScan(scan) => scan
            .filters
            .iter()
            .flat_map(split_conjunction)
            .map(|c| unqualified(c.clone()).ok())
            .collect(),
        LogicalPlan::SubqueryAlias(a) => filters_of(&a.input),
        LogicalPlan::Projection(p) => filters_of(&p.input),
        _ => None,
    }
}

impl FastWrite {
    /// The write's plan with `params` bound, or None when these values need the planner.
    pub(crate) fn plan(
        &self,
        state: &SessionState,
        params: &ParamValues,
    ) -> Result<Option<DmlExec>> {
        let Some(values) = self.parameters.values(params)? else {
            return Ok(None);
        };
        let Some(table) = self.table.downcast_ref::<QuiverTable>() else {
            return Ok(None);
        };
        let bind = |exprs: &[Expr]| -> Result<Vec<Expr>> {
            exprs.iter().map(|e| substitute(e, &values)).collect()
        };
        Ok(Some(match &self.shape {
            WriteShape::Insert {
                op,
                rows,
                values: schema,
                projection,
            } => {
                let batch = insert_batch(state, rows, schema, projection, &values)?;
                let input =
                    MemorySourceConfig::try_new_exec(&[vec![batch.clone()]], batch.schema(), None)?;
                table.insert_exec(input, *op)?
            }
            WriteShape::Update {
                assignments,
                filters,
            } => {
                let assignments = assignments
                    .iter()
                    .map(|(c, e)| Ok((c.clone(), substitute(e, &values)?)))
                    .collect::<Result<Vec<_>>>()?;
                table.update_exec(state, assignments, &bind(filters)?)?
            }
            WriteShape::Delete { filters } => table.delete_exec(state, &bind(filters)?)?,
        }))
    }
}

/// The rows of an INSERT's VALUES with `values` bound, in the table's columns.
fn insert_batch(
    state: &SessionState,
    rows: &[Vec<Expr>],
    schema: &DFSchemaRef,
    projection: &Option<(Vec<Expr>, SchemaRef)>,
    values: &HashMap<String, Expr>,
) -> Result<RecordBatch> {
    let one_row = RecordBatch::try_new_with_options(
        Arc::new(Schema::empty()),
        vec![],
        &RecordBatchOptions::new().with_row_count(Some(1)),
    )?;
    let empty = DFSchema::empty();
    let scalar = |e: &Expr| -> Result<ScalarValue> {
        match substitute(e, values)? {
            Expr::Literal(v, _) => Ok(v),
            other => match state
                .create_physical_expr(other, &empty)?
                .evaluate(&one_row)?
            {
                ColumnarValue::Scalar(s) => Ok(s),
                ColumnarValue::Array(a) => ScalarValue::try_from_array(&a, 0),
            },
        }
    };
    let arrow = Arc::new(schema.as_arrow().clone());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(arrow.fields().len());
    for (j, field) in arrow.fields().iter().enumerate() {
        let cells = rows
            .iter()
            .map(|r| scalar(&r[j])?.cast_to(field.data_type()))
            .collect::<Result<Vec<_>>>()?;
        columns.push(ScalarValue::iter_to_array(cells)?);
    }
    let batch = RecordBatch::try_new(arrow, columns)?;
    let Some((exprs, output)) = projection else {
        return Ok(batch);
    };
    let n = batch.num_rows();
    let projected = exprs
        .iter()
        .map(|e| {
            state
                .create_physical_expr(substitute(e, values)?, schema)?
                .evaluate(&batch)?
                .into_array(n)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(output.clone(), projected)?)
}
