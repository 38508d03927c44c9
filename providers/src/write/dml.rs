//! `DmlExec`: INSERT, UPDATE and DELETE. The write happens when the plan executes (so
//! `EXPLAIN DELETE` deletes nothing), as one atomic batch through the indexed store.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    collect, execute_stream, DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning,
    PlanProperties, SendableRecordBatchStream,
};
use std::collections::HashMap;

use datafusion::arrow::array::{Array, BooleanArray};
use datafusion::arrow::record_batch::RecordBatchOptions;
use futures::StreamExt;
use indexed_store::{ColumnType, Mutation, Row, RowAccess, TableSchema, Value};

use super::bulk_insert::{insert_streamed, WriteProgress, STREAM_AFTER};
use super::rows::{key_bytes, primary_key, run_write, update_mutations, RowCheck, Writer};
use super::upsert::{insert_on_conflict, Conflict};
use crate::convert::{arrow_schema, rows_to_batch, table_rows};
use crate::scan::IndexScanExec;

/// What a DML statement does.
#[derive(Clone)]
pub enum DmlKind {
    /// INSERT (or INSERT OR REPLACE: `upsert`) of the input's rows.
    Insert {
        /// The rows to write.
        input: Arc<dyn ExecutionPlan>,
        /// Replace rows whose key exists instead of failing.
        upsert: bool,
    },
    /// DELETE of the rows the matcher finds (and that still match when deleted).
    Delete {
        /// Finds the candidate rows (through an index where the filters allow).
        matcher: Arc<IndexScanExec>,
        /// The WHERE, compiled over whole rows, re-checked on a row that changed.
        predicate: Vec<Arc<dyn PhysicalExpr>>,
        /// The rows as the WHERE was compiled over them.
        schema: SchemaRef,
    },
    /// UPDATE of the rows the matcher finds (and that still match when updated).
    Update {
        /// Finds the candidate rows.
        matcher: Arc<IndexScanExec>,
        /// The WHERE, compiled over whole rows, re-checked on a row that changed.
        predicate: Vec<Arc<dyn PhysicalExpr>>,
        /// Column position and its new value, computed over the old row.
        assignments: Vec<(usize, Arc<dyn PhysicalExpr>)>,
        /// The rows as the WHERE and assignments were compiled over them.
        schema: SchemaRef,
    },
}

/// RETURNING: expressions over the table's columns, evaluated on each row as written.
#[derive(Clone)]
pub(crate) struct Returning {
    /// The rows as the expressions were compiled over them.
    pub input: SchemaRef,
    /// One per output column.
    pub exprs: Vec<Arc<dyn PhysicalExpr>>,
    /// The output.
    pub schema: SchemaRef,
}

/// Executes a write and returns one row, `count` (the rows written), or with RETURNING the
/// rows written.
pub struct DmlExec {
    access: Arc<dyn RowAccess>,
    kind: DmlKind,
    check: Option<RowCheck>,
    returning: Option<Returning>,
    conflict: Option<Arc<Conflict>>,
    properties: Arc<PlanProperties>,
}

impl fmt::Debug for DmlExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DmlExec")
    }
}

fn count_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(
        "count",
        DataType::UInt64,
        false,
    )]))
}

impl DmlExec {
    /// A write on `access`.
    pub fn new(access: Arc<dyn RowAccess>, kind: DmlKind) -> Self {
        DmlExec {
            access,
            kind,
            check: None,
            returning: None,
            conflict: None,
            properties: Arc::new(properties(count_schema())),
        }
    }

    /// The same write, refusing rows that fail `check`.
    pub(crate) fn with_check(mut self, check: Option<RowCheck>) -> Self {
        self.check = check;
        self
    }

    /// The same write with its ON CONFLICT (INSERT only) and RETURNING clauses.
    pub(crate) fn with_clauses(
        &self,
        returning: Option<Returning>,
        conflict: Option<Arc<Conflict>>,
    ) -> Result<Self> {
        if conflict.is_some() && !matches!(self.kind, DmlKind::Insert { upsert: false, .. }) {
            return Err(DataFusionError::Plan(
                "ON CONFLICT belongs to a plain INSERT (not INSERT OR REPLACE)".into(),
            ));
        }
        let schema = returning
            .as_ref()
            .map_or_else(count_schema, |r| r.schema.clone());
        Ok(DmlExec {
            access: self.access.clone(),
            kind: self.kind.clone(),
            check: self.check.clone(),
            returning,
            conflict,
            properties: Arc::new(properties(schema)),
        })
    }

    /// The table the write changes.
    pub(crate) fn table(&self) -> Arc<TableSchema> {
        self.access.schema()
    }
}

fn properties(schema: SchemaRef) -> PlanProperties {
    PlanProperties::new(
        EquivalenceProperties::new(schema),
        Partitioning::UnknownPartitioning(1),
        EmissionType::Final,
        Boundedness::Bounded,
    )
}

impl DisplayAs for DmlExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let table = self.access.schema().name.clone();
        match &self.kind {
            DmlKind::Insert { upsert: false, .. } => write!(f, "DmlExec: INSERT INTO {table}")?,
            DmlKind::Insert { upsert: true, .. } => {
                write!(f, "DmlExec: INSERT OR REPLACE INTO {table}")?
            }
            DmlKind::Delete { matcher, .. } => {
                write!(f, "DmlExec: DELETE FROM {table} matching ")?;
                matcher.fmt_as(DisplayFormatType::Default, f)?
            }
            DmlKind::Update { matcher, .. } => {
                write!(f, "DmlExec: UPDATE {table} matching ")?;
                matcher.fmt_as(DisplayFormatType::Default, f)?
            }
        }
        if let Some(conflict) = &self.conflict {
            write!(f, " {conflict}")?;
        }
        if let Some(r) = &self.returning {
            let names: Vec<&str> = r
                .schema
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect();
            write!(f, " RETURNING {}", names.join(", "))?;
        }
        Ok(())
    }
}

/// The rows a write's scan found, in the form the store keeps them (see `table_rows`).
async fn matched_rows(
    table: &TableSchema,
    matcher: &Arc<IndexScanExec>,
    ctx: Arc<TaskContext>,
) -> Result<Vec<Row>> {
    // A write by key reads a row or a few: here, rather than in a blocking task.
    let batches = if matcher.is_small(1) {
        matcher.read_now(&ctx)?
    } else {
        collect(matcher.clone() as Arc<dyn ExecutionPlan>, ctx).await?
    };
    let types = table.column_types();
    let mut rows = Vec::new();
    for b in &batches {
        rows.extend(table_rows(b, &types)?);
    }
    Ok(rows)
}

/// Evaluates a statement's WHERE and assignments on single rows: on a row whose current
/// version differs from the one the statement's scan read.
struct RowEvaluator {
    schema: SchemaRef,
    types: Vec<ColumnType>,
    predicate: Vec<Arc<dyn PhysicalExpr>>,
    assignments: Vec<(usize, Arc<dyn PhysicalExpr>)>,
}

impl RowEvaluator {
    fn new(
        table: &TableSchema,
        schema: SchemaRef,
        predicate: Vec<Arc<dyn PhysicalExpr>>,
        assignments: Vec<(usize, Arc<dyn PhysicalExpr>)>,
    ) -> Self {
        RowEvaluator {
            schema,
            types: table.column_types(),
            predicate,
            assignments,
        }
    }

    fn batch(&self, rows: &[Row]) -> Result<RecordBatch> {
        rows_to_batch(&self.schema, &self.types, rows)
    }

    /// Whether the row satisfies the WHERE (NULL is not a match).
    fn matches(&self, row: &Row) -> Result<bool> {
        if self.predicate.is_empty() {
            return Ok(true);
        }
        let batch = self.batch(std::slice::from_ref(row))?;
        for p in &self.predicate {
            let value = p.evaluate(&batch)?.into_array(1)?;
            let Some(b) = value.as_any().downcast_ref::<BooleanArray>() else {
                return Err(DataFusionError::Internal("WHERE is not boolean".into()));
            };
            if b.is_null(0) || !b.value(0) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The rows with the assignments applied.
    fn assign(&self, rows: &[Row]) -> Result<Vec<Row>> {
        let b = self.batch(rows)?;
        let mut columns = b.columns().to_vec();
        for (i, e) in &self.assignments {
            let array = e.evaluate(&b)?.into_array(b.num_rows())?;
            let target = b.schema().field(*i).data_type().clone();
            columns[*i] = datafusion::arrow::compute::cast(&array, &target)?;
        }
        let updated = RecordBatch::try_new_with_options(
            b.schema(),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(b.num_rows())),
        )?;
        table_rows(&updated, &self.types)
    }
}

/// UPDATE or DELETE of the rows a scan found, acting on each row's current version: the
/// scan reads a snapshot, and a row another statement changed since is re-read under its
/// lock, its WHERE re-checked and its new values computed again (PostgreSQL's READ
/// COMMITTED behaviour for UPDATE and DELETE). A row deleted since is skipped. Returns the
/// rows changed: as deleted, or as updated.
async fn write_current(
    writer: Writer,
    evaluator: RowEvaluator,
    candidates: Vec<Row>,
    delete: bool,
    check: Option<RowCheck>,
) -> Result<Vec<Row>> {
    let schema = writer.access.schema();
    // What the statement would write for each row as the scan read it.
    let planned: Vec<Option<Row>> = if delete {
        vec![None; candidates.len()]
    } else {
        evaluator
            .assign(&candidates)?
            .into_iter()
            .map(Some)
            .collect()
    };
    let keys: Vec<Vec<Value>> = candidates.iter().map(|r| primary_key(&schema, r)).collect();
    let position: HashMap<Vec<u8>, usize> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (key_bytes(k), i))
        .collect();
    run_write(keys.len(), move || -> Result<Vec<Row>> {
        let mut changed: Vec<Option<Row>> = vec![None; keys.len()];
        writer.apply_decided(&keys, |key, current| {
            let i = position[&key_bytes(key)];
            changed[i] = None;
            let Some(current) = current else {
                return Ok(Vec::new());
            };
            let seen = &candidates[i];
            if *current != *seen && !evaluator.matches(current)? {
                return Ok(Vec::new());
            }
            if delete {
                changed[i] = Some(current.clone());
                return Ok(vec![Mutation::Delete(key.to_vec())]);
            }
            let new = match &planned[i] {
                Some(new) if *current == *seen => new.clone(),
                _ => evaluator.assign(std::slice::from_ref(current))?.remove(0),
            };
            if let Some(check) = &check {
                check(&new)?;
            }
            changed[i] = Some(new.clone());
            Ok(update_mutations(&schema, current, new))
        })?;
        Ok(changed.into_iter().flatten().collect())
    })
    .await
}

/// An INSERT's rows with each text column read as its table column's type: a parameter
/// bound after planning keeps the type the client sent (text for a DATE, say), and is read
/// as PostgreSQL reads a text parameter, or refused naming the column. Other mismatches are
/// left to the store's exact conversions (a float parameter is not truncated into a BIGINT).
fn conform(batch: &RecordBatch, target: &SchemaRef) -> Result<RecordBatch> {
    let text =
        |t: &DataType| matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
    let converts = |c: &ArrayRef, f: &Field| {
        c.data_type() != f.data_type() && text(c.data_type()) && !text(f.data_type())
    };
    if batch.num_columns() != target.fields().len()
        || !batch
            .columns()
            .iter()
            .zip(target.fields())
            .any(|(c, f)| converts(c, f))
    {
        return Ok(batch.clone());
    }
    let columns = batch
        .columns()
        .iter()
        .zip(target.fields())
        .map(|(c, f)| {
            if !converts(c, f) {
                return Ok(c.clone());
            }
            let options = datafusion::arrow::compute::CastOptions {
                safe: false,
                ..Default::default()
            };
            datafusion::arrow::compute::cast_with_options(c, f.data_type(), &options).map_err(|e| {
                DataFusionError::Execution(format!(
                    "column '{}' is {}, and a {} value does not convert: {e}",
                    f.name(),
                    f.data_type(),
                    c.data_type()
                ))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let fields: Vec<Field> = columns
        .iter()
        .zip(target.fields())
        .map(|(c, f)| f.as_ref().clone().with_data_type(c.data_type().clone()))
        .collect();
    Ok(RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
    )?)
}

/// What a write did: how many rows it wrote and, when RETURNING asked for them, the rows.
struct Written {
    count: u64,
    rows: Vec<Row>,
}

impl Written {
    fn rows(rows: Vec<Row>) -> Self {
        Written {
            count: rows.len() as u64,
            rows,
        }
    }
}

async fn run(
    access: Arc<dyn RowAccess>,
    kind: DmlKind,
    check: Option<RowCheck>,
    conflict: Option<Arc<Conflict>>,
    keep_rows: bool,
    ctx: Arc<TaskContext>,
) -> Result<Written> {
    let table = access.schema();
    let writer = Writer::of(access.clone(), &ctx);
    match kind {
        DmlKind::Insert { input, upsert } => {
            let target = arrow_schema(&table);
            let types = table.column_types();
            let convert = move |b: RecordBatch| table_rows(&conform(&b, &target)?, &types);
            let progress = ctx.session_config().get_extension::<WriteProgress>();
            let mut input = execute_stream(input, ctx)?;
            // Only a plain INSERT may stream (see `bulk_insert.rs`): ON CONFLICT decides row
            // by row under locks, RETURNING hands back every row, and a transaction's writes
            // are all held until it commits.
            let streams = conflict.is_none() && !upsert && !keep_rows && writer.tx.is_none();
            let mut rows = Vec::new();
            loop {
                let Some(batch) = input.next().await else {
                    break;
                };
                rows.extend(convert(batch?)?);
                if streams && rows.len() > STREAM_AFTER {
                    let count =
                        insert_streamed(access, rows, input, convert, check, progress).await?;
                    return Ok(Written {
                        count,
                        rows: Vec::new(),
                    });
                }
            }
            if let Some(conflict) = conflict {
                let n = rows.len();
                return run_write(n, move || {
                    insert_on_conflict(&writer, &conflict, rows, check.as_ref())
                })
                .await
                .map(Written::rows);
            }
            if let Some(check) = &check {
                rows.iter().try_for_each(|row| check(row))?;
            }
            let kept = if keep_rows { rows.clone() } else { Vec::new() };
            let m: Vec<_> = rows
                .into_iter()
                .map(|row| {
                    if upsert {
                        Mutation::Upsert(row)
                    } else {
                        Mutation::Insert(row)
                    }
                })
                .collect();
            let outcome = run_write(m.len(), move || writer.apply(m)).await?;
            Ok(Written {
                count: outcome.total(),
                rows: kept,
            })
        }
        DmlKind::Delete {
            matcher,
            predicate,
            schema,
        } => {
            let candidates = matched_rows(&table, &matcher, ctx).await?;
            let evaluator = RowEvaluator::new(&table, schema, predicate, Vec::new());
            write_current(writer, evaluator, candidates, true, None)
                .await
                .map(Written::rows)
        }
        DmlKind::Update {
            matcher,
            predicate,
            assignments,
            schema,
        } => {
            let candidates = matched_rows(&table, &matcher, ctx).await?;
            let evaluator = RowEvaluator::new(&table, schema, predicate, assignments);
            write_current(writer, evaluator, candidates, false, check)
                .await
                .map(Written::rows)
        }
    }
}

/// The RETURNING expressions evaluated over the rows a write wrote.
fn returned_rows(table: &TableSchema, returning: &Returning, rows: &[Row]) -> Result<RecordBatch> {
    let written = rows_to_batch(&returning.input, &table.column_types(), rows)?;
    let columns = returning
        .exprs
        .iter()
        .zip(returning.schema.fields())
        .map(|(e, field)| {
            let array = e.evaluate(&written)?.into_array(written.num_rows())?;
            Ok(datafusion::arrow::compute::cast(&array, field.data_type())?)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new_with_options(
        returning.schema.clone(),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(written.num_rows())),
    )?)
}

impl ExecutionPlan for DmlExec {
    fn name(&self) -> &str {
        "DmlExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        match &self.kind {
            DmlKind::Insert { input, .. } => vec![input],
            _ => vec![],
        }
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        if let DmlKind::Update { assignments, .. } = &self.kind {
            let assigned = assignments.iter().map(|(_, e)| e);
            if crate::scan::visit_expressions(assigned, f)? == TreeNodeRecursion::Stop {
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        match &self.returning {
            Some(r) => crate::scan::visit_expressions(r.exprs.iter(), f),
            None => Ok(TreeNodeRecursion::Continue),
        }
    }

    #[allow(deprecated)]
    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let kind = match (&self.kind, children.into_iter().next()) {
            (DmlKind::Insert { upsert, .. }, Some(input)) => DmlKind::Insert {
                input,
                upsert: *upsert,
            },
            (k, _) => k.clone(),
        };
        let plain = DmlExec::new(self.access.clone(), kind).with_check(self.check.clone());
        Ok(Arc::new(plain.with_clauses(
            self.returning.clone(),
            self.conflict.clone(),
        )?))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(format!(
                "DmlExec has one partition, asked for {partition}"
            )));
        }
        let (access, kind, check) = (self.access.clone(), self.kind.clone(), self.check.clone());
        let (returning, conflict) = (self.returning.clone(), self.conflict.clone());
        let schema = self.properties.eq_properties.schema().clone();
        let fut = async move {
            let table = access.schema();
            let written = run(access, kind, check, conflict, returning.is_some(), context).await?;
            match returning {
                None => {
                    let array: ArrayRef = Arc::new(UInt64Array::from(vec![written.count]));
                    Ok(RecordBatch::try_new(count_schema(), vec![array])?)
                }
                Some(r) => returned_rows(&table, &r, &written.rows),
            }
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            schema,
            futures::stream::once(fut),
        )))
    }
}
