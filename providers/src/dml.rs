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
    collect, DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};
use indexed_store::{Mutation, Row, RowAccess, Value};

use crate::convert::batch_to_rows;
use crate::scan::IndexScanExec;
use crate::store_err;

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
    /// DELETE of the rows the matcher finds.
    Delete {
        /// Finds the rows (through an index where the filters allow).
        matcher: Arc<IndexScanExec>,
    },
    /// UPDATE of the rows the matcher finds.
    Update {
        /// Finds the rows.
        matcher: Arc<IndexScanExec>,
        /// Column position and its new value, computed over the old row.
        assignments: Vec<(usize, Arc<dyn PhysicalExpr>)>,
    },
}

/// Executes a write and returns one row: `count`, the rows written.
pub struct DmlExec {
    access: Arc<dyn RowAccess>,
    kind: DmlKind,
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
        let properties = PlanProperties::new(
            EquivalenceProperties::new(count_schema()),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        DmlExec {
            access,
            kind,
            properties: Arc::new(properties),
        }
    }
}

impl DisplayAs for DmlExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let table = self.access.schema().name;
        match &self.kind {
            DmlKind::Insert { upsert: false, .. } => write!(f, "DmlExec: INSERT INTO {table}"),
            DmlKind::Insert { upsert: true, .. } => {
                write!(f, "DmlExec: INSERT OR REPLACE INTO {table}")
            }
            DmlKind::Delete { matcher } => {
                write!(f, "DmlExec: DELETE FROM {table} matching ")?;
                matcher.fmt_as(DisplayFormatType::Default, f)
            }
            DmlKind::Update { matcher, .. } => {
                write!(f, "DmlExec: UPDATE {table} matching ")?;
                matcher.fmt_as(DisplayFormatType::Default, f)
            }
        }
    }
}

async fn matched_batches(
    matcher: &Arc<IndexScanExec>,
    ctx: Arc<TaskContext>,
) -> Result<Vec<RecordBatch>> {
    collect(matcher.clone() as Arc<dyn ExecutionPlan>, ctx).await
}

fn primary_key(access: &Arc<dyn RowAccess>, row: &Row) -> Vec<Value> {
    access
        .schema()
        .primary_key_indices()
        .iter()
        .map(|&i| row[i].clone())
        .collect()
}

async fn run(access: Arc<dyn RowAccess>, kind: DmlKind, ctx: Arc<TaskContext>) -> Result<u64> {
    // Rows an UPDATE matched: a row whose key changes is a delete plus an insert, one row.
    let mut updated_rows: Option<u64> = None;
    let mutations: Vec<Mutation<Vec<Value>, Row>> = match kind {
        DmlKind::Insert { input, upsert } => {
            let batches = collect(input, ctx).await?;
            let mut m = Vec::new();
            for b in &batches {
                for row in batch_to_rows(b)? {
                    m.push(if upsert {
                        Mutation::Upsert(row)
                    } else {
                        Mutation::Insert(row)
                    });
                }
            }
            m
        }
        DmlKind::Delete { matcher } => {
            let mut m = Vec::new();
            for b in matched_batches(&matcher, ctx).await? {
                for row in batch_to_rows(&b)? {
                    m.push(Mutation::Delete(primary_key(&access, &row)));
                }
            }
            m
        }
        DmlKind::Update {
            matcher,
            assignments,
        } => {
            let mut m = Vec::new();
            for b in matched_batches(&matcher, ctx).await? {
                let new_columns: Vec<(usize, ArrayRef)> = assignments
                    .iter()
                    .map(|(i, e)| Ok((*i, e.evaluate(&b)?.into_array(b.num_rows())?)))
                    .collect::<Result<_>>()?;
                let mut columns = b.columns().to_vec();
                for (i, array) in new_columns {
                    let target = b.schema().field(i).data_type().clone();
                    columns[i] = datafusion::arrow::compute::cast(&array, &target)?;
                }
                let updated = RecordBatch::try_new_with_options(
                    b.schema(),
                    columns,
                    &datafusion::arrow::record_batch::RecordBatchOptions::new()
                        .with_row_count(Some(b.num_rows())),
                )?;
                *updated_rows.get_or_insert(0) += b.num_rows() as u64;
                for (old, new) in batch_to_rows(&b)?.into_iter().zip(batch_to_rows(&updated)?) {
                    let (old_key, new_key) =
                        (primary_key(&access, &old), primary_key(&access, &new));
                    if old_key == new_key {
                        m.push(Mutation::Update(new));
                    } else {
                        m.push(Mutation::Delete(old_key));
                        m.push(Mutation::Insert(new));
                    }
                }
            }
            m
        }
    };
    let writer = access.clone();
    let outcome = tokio::task::spawn_blocking(move || writer.apply_rows(mutations))
        .await
        .map_err(|e| DataFusionError::Execution(format!("write task failed: {e}")))?
        .map_err(store_err)?;
    Ok(updated_rows.unwrap_or_else(|| outcome.total()))
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
        match &self.kind {
            DmlKind::Update { assignments, .. } => {
                crate::scan::visit_expressions(assignments.iter().map(|(_, e)| e), f)
            }
            _ => Ok(TreeNodeRecursion::Continue),
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
        Ok(Arc::new(DmlExec::new(self.access.clone(), kind)))
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
        let (access, kind) = (self.access.clone(), self.kind.clone());
        let fut = async move {
            let n = run(access, kind, context).await?;
            let array: ArrayRef = Arc::new(UInt64Array::from(vec![n]));
            Ok(RecordBatch::try_new(count_schema(), vec![array])?)
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            count_schema(),
            futures::stream::once(fut),
        )))
    }
}
