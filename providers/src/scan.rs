//! `IndexScanExec`: reads a Quiver table through an access path. It evaluates the filters
//! the path does not answer itself (so no FilterExec sits between a sort and the scan), stops
//! at its fetch, reads only index entries when they hold every needed column, and answers
//! DataFusion's sort pushdown when an index yields the requested order.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{Array, BooleanArray};
use datafusion::arrow::compute::SortOptions;
use datafusion::arrow::compute::{and, filter_record_batch};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::expressions::Column as PhysicalColumn;
use datafusion::physical_expr::{ConstExpr, EquivalenceProperties, PhysicalExpr, PhysicalSortExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{
    BaselineMetrics, Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream, SortOrderPushdownResult,
};
use indexed_store::{
    choose_access_path, AccessPath, AccessPlan, ColumnPredicate, ColumnRange, OrderKey, Predicate,
    RowAccess, RowReader, TableSchema, Value,
};
use kv_store::{Direction, KeyRange};

use crate::convert::rows_to_batch;
use crate::store_err;

/// How the scan produces rows.
#[derive(Debug, Clone, PartialEq)]
pub enum ScanMode {
    /// Read records.
    Records,
    /// Read index entries only: every needed column is in the key or INCLUDE columns.
    Covered,
    /// One row per distinct value of the first `n` key columns, found by skipping.
    Distinct(usize),
}

/// Everything a scan needs; shared by its partitions.
#[derive(Clone)]
pub(crate) struct ScanSpec {
    pub table: Arc<dyn RowAccess>,
    pub schema: TableSchema,
    /// Pushed filters: the store predicate each one means (if any) and the compiled
    /// expression over `read_schema`.
    pub predicates: Vec<Option<ColumnPredicate>>,
    pub physical_filters: Vec<Arc<dyn PhysicalExpr>>,
    pub filter_text: Vec<String>,
    /// Table columns read, ascending.
    pub read_columns: Vec<usize>,
    pub read_schema: SchemaRef,
    /// Output columns as positions in `read_columns`.
    pub projection: Vec<usize>,
    pub output_schema: SchemaRef,
    pub plan: AccessPlan,
    pub mode: ScanMode,
    pub fetch: Option<usize>,
    /// Primary-key ranges, one per partition (one unbounded range for a single partition).
    pub ranges: Vec<KeyRange>,
}

impl ScanSpec {
    /// Filters the access path does not answer, by position.
    fn residual(&self) -> Vec<usize> {
        (0..self.physical_filters.len())
            .filter(|i| !self.plan.answered.contains(i))
            .collect()
    }

    /// The store predicates with their filter positions.
    fn store_predicates(&self) -> (Vec<ColumnPredicate>, Vec<usize>) {
        self.predicates
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.clone().map(|p| (p, i)))
            .unzip()
    }

    /// Chooses the access path (and mode) for an ordering.
    pub fn plan_for(&mut self, order: &[OrderKey]) {
        let (preds, positions) = self.store_predicates();
        let mut plan = choose_access_path(&self.schema, &preds, order);
        plan.answered = plan.answered.iter().map(|i| positions[*i]).collect();
        self.plan = plan;
        self.mode = if self.covers() {
            ScanMode::Covered
        } else {
            ScanMode::Records
        };
    }

    /// True when the chosen secondary index holds every column read.
    fn covers(&self) -> bool {
        let Some(index) = &self.plan.path.index else {
            return self.read_columns.is_empty();
        };
        let Some(spec) = self.schema.index(index) else {
            return false;
        };
        self.read_columns.iter().all(|&c| {
            let col = &self.schema.columns[c];
            (!col.ty.is_list() && spec.columns.iter().any(|k| k.name == col.name))
                || self.schema.primary_key.contains(&col.name)
                || spec.include.contains(&col.name)
        })
    }

    fn types(&self) -> Vec<indexed_store::ColumnType> {
        self.read_columns
            .iter()
            .map(|&c| self.schema.columns[c].ty.clone())
            .collect()
    }

    /// The path to walk for a partition, with the fetch as its limit when nothing is left to
    /// filter.
    fn path(&self) -> AccessPath {
        let mut path = self.plan.path.clone();
        if self.residual().is_empty() {
            path.limit = self.fetch;
        }
        path
    }

    /// The order rows come out in, over the output columns, and the constant columns.
    fn output_ordering(&self) -> (Vec<PhysicalSortExpr>, Vec<String>) {
        let constants: Vec<String> = self
            .predicates
            .iter()
            .flatten()
            .filter(|p| matches!(p.predicate, Predicate::Eq(_) | Predicate::IsNull))
            .filter(|p| {
                !self.schema.columns[self.schema.column_index(&p.column).unwrap_or(0)]
                    .ty
                    .is_list()
            })
            .map(|p| p.column.clone())
            .collect();
        if self.ranges.len() > 1
            || matches!(self.mode, ScanMode::Distinct(_)) && self.plan.path.index.is_none()
        {
            return (vec![], constants);
        }
        let orders: Vec<(String, bool)> = match &self.plan.path.index {
            None => self
                .schema
                .primary_key
                .iter()
                .map(|c| (c.clone(), false))
                .collect(),
            Some(name) => match self.schema.index(name) {
                Some(spec) => spec
                    .columns
                    .iter()
                    .map(|c| (c.name.clone(), c.order.is_desc()))
                    .collect(),
                None => vec![],
            },
        };
        let reverse = self.plan.path.direction == Direction::Reverse;
        let mut sort = Vec::new();
        for (name, desc) in orders.into_iter().skip(self.plan.equality_columns) {
            let list = self
                .schema
                .column_index(&name)
                .is_some_and(|i| self.schema.columns[i].ty.is_list());
            let Ok(pos) = self.output_schema.index_of(&name) else {
                break;
            };
            if list {
                break;
            }
            let descending = desc != reverse;
            sort.push(PhysicalSortExpr::new(
                Arc::new(PhysicalColumn::new(&name, pos)),
                SortOptions {
                    descending,
                    nulls_first: descending,
                },
            ));
        }
        (sort, constants)
    }
}

/// Calls `f` on each expression in turn, stopping when it says so (`apply_expressions`).
pub(crate) fn visit_expressions<'a>(
    exprs: impl IntoIterator<Item = &'a Arc<dyn PhysicalExpr>>,
    f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
) -> Result<TreeNodeRecursion> {
    for e in exprs {
        if f(e)? == TreeNodeRecursion::Stop {
            return Ok(TreeNodeRecursion::Stop);
        }
    }
    Ok(TreeNodeRecursion::Continue)
}

/// Scans a Quiver table through an index or its primary key.
pub struct IndexScanExec {
    spec: ScanSpec,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl fmt::Debug for IndexScanExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IndexScanExec({})", self.spec.schema.name)
    }
}

impl IndexScanExec {
    pub(crate) fn new(spec: ScanSpec) -> Self {
        let (ordering, constants) = spec.output_ordering();
        let mut eq = EquivalenceProperties::new(spec.output_schema.clone());
        if !ordering.is_empty() {
            eq.add_ordering(ordering);
        }
        let consts: Vec<ConstExpr> = constants
            .iter()
            .filter_map(|c| spec.output_schema.index_of(c).ok().map(|i| (c, i)))
            .map(|(c, i)| {
                ConstExpr::from(Arc::new(PhysicalColumn::new(c, i)) as Arc<dyn PhysicalExpr>)
            })
            .collect();
        let _ = eq.add_constants(consts);
        let properties = PlanProperties::new(
            eq,
            Partitioning::UnknownPartitioning(spec.ranges.len()),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        IndexScanExec {
            spec,
            properties: Arc::new(properties),
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }

    /// The access path chosen.
    pub fn access_path(&self) -> &AccessPath {
        &self.spec.plan.path
    }

    /// How rows are produced.
    pub fn mode(&self) -> &ScanMode {
        &self.spec.mode
    }

    /// The table scanned.
    pub fn table_name(&self) -> &str {
        &self.spec.schema.name
    }

    /// True when every pushed filter is answered by the path.
    pub fn has_residual(&self) -> bool {
        !self.spec.residual().is_empty()
    }

    /// Output columns (table column names).
    pub fn output_columns(&self) -> Vec<String> {
        self.spec
            .output_schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    /// The same scan returning one row per distinct value of the first `n` key columns of
    /// its index (None when it cannot).
    pub fn with_distinct(&self, n: usize) -> Option<Self> {
        let spec = &self.spec;
        if spec.fetch.is_some() || !spec.physical_filters.is_empty() || spec.schema.ttl.is_some() {
            return None;
        }
        let mut best: Option<(Option<String>, Vec<String>)> = None;
        let wanted: Vec<String> = spec
            .read_columns
            .iter()
            .map(|&c| spec.schema.columns[c].name.clone())
            .collect();
        let mut candidates: Vec<(Option<String>, Vec<String>)> =
            vec![(None, spec.schema.primary_key.clone())];
        for idx in spec.schema.indexes.iter().filter(|i| !i.partial) {
            candidates.push((
                Some(idx.name.clone()),
                idx.columns.iter().map(|c| c.name.clone()).collect(),
            ));
        }
        for (index, cols) in candidates {
            if cols.len() < n || wanted.len() != n {
                continue;
            }
            let lead = &cols[..n];
            let any_list = lead.iter().any(|c| {
                spec.schema
                    .column_index(c)
                    .is_some_and(|i| spec.schema.columns[i].ty.is_list())
            });
            if !any_list && wanted.iter().all(|w| lead.contains(w)) {
                best = Some((index, lead.to_vec()));
                break;
            }
        }
        let (index, _) = best?;
        let mut spec = spec.clone();
        spec.plan.path = AccessPath {
            index,
            ..AccessPath::primary()
        };
        spec.plan.equality_columns = 0;
        spec.plan.answered.clear();
        spec.mode = ScanMode::Distinct(n);
        spec.ranges = vec![KeyRange::all()];
        Some(IndexScanExec::new(spec))
    }

    fn describe(&self) -> String {
        let s = &self.spec;
        let p = &s.plan.path;
        let mut parts = vec![format!("table={}", s.schema.name)];
        parts.push(format!("index={}", p.index.as_deref().unwrap_or("PRIMARY")));
        let eq_cols = &s.plan.key_columns[..s.plan.equality_columns.min(s.plan.key_columns.len())];
        if !eq_cols.is_empty() {
            let values: Vec<String> = if p.prefixes.len() == 1 {
                eq_cols
                    .iter()
                    .zip(&p.prefixes[0])
                    .map(|(c, v)| format!("{c}={v}"))
                    .collect()
            } else {
                vec![format!(
                    "({}) IN {} prefixes",
                    eq_cols.join(", "),
                    p.prefixes.len()
                )]
            };
            parts.push(format!("eq=[{}]", values.join(", ")));
        }
        if let Some(col) = s.plan.key_columns.get(s.plan.equality_columns) {
            match &p.range {
                ColumnRange::All => {}
                ColumnRange::StartsWith(pre) => parts.push(format!("range={col} LIKE '{pre}%'")),
                ColumnRange::Between { lower, upper } => {
                    let lo = match lower {
                        std::ops::Bound::Included(v) => format!("[{v}"),
                        std::ops::Bound::Excluded(v) => format!("({v}"),
                        std::ops::Bound::Unbounded => "(-inf".into(),
                    };
                    let hi = match upper {
                        std::ops::Bound::Included(v) => format!("{v}]"),
                        std::ops::Bound::Excluded(Value::Null) => "NULL)".into(),
                        std::ops::Bound::Excluded(v) => format!("{v})"),
                        std::ops::Bound::Unbounded => "+inf)".into(),
                    };
                    parts.push(format!("range={col} in {lo}, {hi}"));
                }
            }
        }
        parts.push(format!(
            "direction={}",
            if p.direction == Direction::Reverse {
                "reverse"
            } else {
                "forward"
            }
        ));
        if let Some(f) = s.fetch {
            parts.push(format!("limit={f}"));
        }
        match s.mode {
            ScanMode::Records => parts.push("covered=false".into()),
            ScanMode::Covered => parts.push("covered=true".into()),
            ScanMode::Distinct(n) => parts.push(format!("distinct={n}")),
        }
        let residual: Vec<String> = s
            .residual()
            .iter()
            .map(|&i| s.filter_text[i].clone())
            .collect();
        if !residual.is_empty() {
            parts.push(format!("residual=[{}]", residual.join(" AND ")));
        }
        if s.ranges.len() > 1 {
            parts.push(format!("partitions={}", s.ranges.len()));
        }
        parts.push(format!("projection=[{}]", self.output_columns().join(", ")));
        parts.join(", ")
    }
}

impl DisplayAs for IndexScanExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        match t {
            DisplayFormatType::Default | DisplayFormatType::Verbose => {
                write!(f, "IndexScanExec: {}", self.describe())
            }
            DisplayFormatType::TreeRender => write!(f, "{}", self.describe().replace(", ", "\n")),
        }
    }
}

impl ExecutionPlan for IndexScanExec {
    fn name(&self) -> &str {
        "IndexScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        visit_expressions(&self.spec.physical_filters, f)
    }

    #[allow(deprecated)]
    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn with_fetch(&self, limit: Option<usize>) -> Option<Arc<dyn ExecutionPlan>> {
        let mut spec = self.spec.clone();
        spec.fetch = match (spec.fetch, limit) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if spec.ranges.len() > 1 {
            // A hard limit over several partitions would return up to n per partition.
            spec.ranges = vec![KeyRange::all()];
        }
        Some(Arc::new(IndexScanExec::new(spec)))
    }

    fn fetch(&self) -> Option<usize> {
        self.spec.fetch
    }

    fn try_pushdown_sort(
        &self,
        order: &[PhysicalSortExpr],
    ) -> Result<SortOrderPushdownResult<Arc<dyn ExecutionPlan>>> {
        if matches!(self.spec.mode, ScanMode::Distinct(_)) {
            return Ok(SortOrderPushdownResult::Unsupported);
        }
        let mut keys = Vec::with_capacity(order.len());
        for e in order {
            let Some(col) = e.expr.downcast_ref::<PhysicalColumn>() else {
                return Ok(SortOrderPushdownResult::Unsupported);
            };
            if self.spec.schema.column_index(col.name()).is_none() {
                return Ok(SortOrderPushdownResult::Unsupported);
            }
            keys.push(OrderKey {
                column: col.name().to_owned(),
                descending: e.options.descending,
                nulls_first: e.options.nulls_first,
            });
        }
        let mut spec = self.spec.clone();
        spec.plan_for(&keys);
        if !spec.plan.ordered {
            return Ok(SortOrderPushdownResult::Unsupported);
        }
        spec.ranges = vec![KeyRange::all()];
        Ok(SortOrderPushdownResult::Exact {
            inner: Arc::new(IndexScanExec::new(spec)),
        })
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let spec = self.spec.clone();
        let range = spec.ranges.get(partition).cloned().ok_or_else(|| {
            DataFusionError::Internal(format!("IndexScanExec has no partition {partition}"))
        })?;
        let rows_read = MetricBuilder::new(&self.metrics).counter("rows_read", partition);
        let baseline = BaselineMetrics::new(&self.metrics, partition);
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<RecordBatch>>(2);
        let schema = spec.output_schema.clone();
        tokio::task::spawn_blocking(move || {
            let err_tx = tx.clone();
            if let Err(e) = run_scan(&spec, range, &tx, &rows_read, &baseline) {
                let _ = err_tx.blocking_send(Err(e));
            }
        });
        let stream =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}

/// Collects rows into batches, filters and projects them, and sends them until the fetch is
/// met or the receiver goes away.
struct Emitter<'a> {
    spec: &'a ScanSpec,
    residual: Vec<usize>,
    types: Vec<indexed_store::ColumnType>,
    tx: &'a tokio::sync::mpsc::Sender<Result<RecordBatch>>,
    produced: usize,
    batch_size: usize,
    buffer: Vec<Vec<Value>>,
    baseline: &'a BaselineMetrics,
}

impl Emitter<'_> {
    /// Adds a row; false when the scan should stop.
    fn push(&mut self, row: Vec<Value>) -> Result<bool> {
        self.buffer.push(row);
        if self.buffer.len() >= self.batch_size {
            self.batch_size = (self.batch_size * 2).min(8192);
            return self.flush();
        }
        Ok(true)
    }

    fn flush(&mut self) -> Result<bool> {
        if self.buffer.is_empty() {
            return Ok(self.spec.fetch.is_none_or(|f| self.produced < f));
        }
        let rows = std::mem::take(&mut self.buffer);
        let mut batch = rows_to_batch(&self.spec.read_schema, &self.types, &rows)?;
        if !self.residual.is_empty() {
            let mut mask: Option<BooleanArray> = None;
            for &i in &self.residual {
                let value = self.spec.physical_filters[i]
                    .evaluate(&batch)?
                    .into_array(batch.num_rows())?;
                let b = value
                    .as_any()
                    .downcast_ref::<BooleanArray>()
                    .ok_or_else(|| DataFusionError::Internal("filter is not boolean".into()))?
                    .clone();
                mask = Some(match mask {
                    None => b,
                    Some(m) => and(&m, &b)?,
                });
            }
            if let Some(m) = mask {
                // NULL counts as false, as in WHERE.
                let m = if m.null_count() > 0 {
                    datafusion::arrow::compute::prep_null_mask_filter(&m)
                } else {
                    m
                };
                batch = filter_record_batch(&batch, &m)?;
            }
        }
        let mut batch = batch.project(&self.spec.projection)?;
        if let Some(f) = self.spec.fetch {
            let left = f.saturating_sub(self.produced);
            if batch.num_rows() > left {
                batch = batch.slice(0, left);
            }
        }
        self.produced += batch.num_rows();
        self.baseline.record_output(batch.num_rows());
        if batch.num_rows() > 0 && self.tx.blocking_send(Ok(batch)).is_err() {
            return Ok(false);
        }
        Ok(self.spec.fetch.is_none_or(|f| self.produced < f))
    }
}

fn run_scan(
    spec: &ScanSpec,
    range: KeyRange,
    tx: &tokio::sync::mpsc::Sender<Result<RecordBatch>>,
    rows_read: &Count,
    baseline: &BaselineMetrics,
) -> Result<()> {
    let residual = spec.residual();
    let batch_size = match spec.fetch {
        Some(f) if residual.is_empty() => f.clamp(1, 8192),
        _ => 256,
    };
    let mut emitter = Emitter {
        spec,
        residual,
        types: spec.types(),
        tx,
        produced: 0,
        batch_size,
        buffer: Vec::new(),
        baseline,
    };
    let mut outcome: Result<()> = Ok(());
    let store_result = spec.table.read(&mut |reader: &dyn RowReader| {
        outcome = scan_with(spec, reader, &range, &mut emitter, rows_read);
        Ok(())
    });
    store_result.map_err(store_err)?;
    outcome
}

fn scan_with(
    spec: &ScanSpec,
    reader: &dyn RowReader,
    range: &KeyRange,
    out: &mut Emitter<'_>,
    rows_read: &Count,
) -> Result<()> {
    let path = spec.path();
    let pick = |row: &[Value]| -> Vec<Value> {
        spec.read_columns.iter().map(|&c| row[c].clone()).collect()
    };
    match &spec.mode {
        ScanMode::Records => {
            let rows: Box<dyn Iterator<Item = indexed_store::StoreResult<Vec<Value>>>> =
                // Several ranges only ever split a full primary-key walk.
                if spec.ranges.len() > 1 {
                    reader.rows_in_key_range(range).map_err(store_err)?
                } else {
                    reader.rows(&path).map_err(store_err)?
                };
            for row in rows {
                let row = row.map_err(store_err)?;
                rows_read.add(1);
                if !out.push(pick(&row))? {
                    return Ok(());
                }
            }
        }
        ScanMode::Covered if spec.read_columns.is_empty() => {
            // count(*) and friends: count entries, decode nothing.
            let mut left = reader.count(&path).map_err(store_err)?;
            rows_read.add(left as usize);
            while left > 0 {
                let n = left.min(8192);
                for _ in 0..n {
                    out.buffer.push(Vec::new());
                }
                left -= n;
                if !out.flush()? {
                    return Ok(());
                }
            }
        }
        ScanMode::Covered => {
            let index = path.index.clone();
            let key_cols: Vec<String> = spec.plan.key_columns.clone();
            let include: Vec<String> = index
                .as_ref()
                .and_then(|i| spec.schema.index(i))
                .map(|i| i.include.clone())
                .unwrap_or_default();
            let sources: Vec<(u8, usize)> = spec
                .read_columns
                .iter()
                .map(|&c| {
                    let name = &spec.schema.columns[c].name;
                    if let Some(p) = key_cols.iter().position(|k| k == name) {
                        (0, p)
                    } else if let Some(p) = spec.schema.primary_key.iter().position(|k| k == name) {
                        (1, p)
                    } else {
                        (2, include.iter().position(|k| k == name).unwrap_or(0))
                    }
                })
                .collect();
            for entry in reader.entries(&path).map_err(store_err)? {
                let entry = entry.map_err(store_err)?;
                rows_read.add(1);
                let row: Vec<Value> = if sources.is_empty() {
                    vec![]
                } else {
                    let (keys, pks) = reader
                        .decode_entry(index.as_deref(), &entry)
                        .map_err(store_err)?;
                    let covered = entry.payload.covered.unwrap_or_default();
                    sources
                        .iter()
                        .map(|(src, p)| match src {
                            0 => keys.get(*p).cloned().unwrap_or(Value::Null),
                            1 => pks.get(*p).cloned().unwrap_or(Value::Null),
                            _ => covered.get(*p).cloned().unwrap_or(Value::Null),
                        })
                        .collect()
                };
                if !out.push(row)? {
                    return Ok(());
                }
            }
        }
        ScanMode::Distinct(n) => {
            let lead: Vec<String> = match &path.index {
                None => spec.schema.primary_key.clone(),
                Some(i) => spec
                    .schema
                    .index(i)
                    .map(|s| s.columns.iter().map(|c| c.name.clone()).collect())
                    .unwrap_or_default(),
            };
            for values in reader
                .distinct(path.index.as_deref(), *n, path.direction, None)
                .map_err(store_err)?
            {
                rows_read.add(1);
                let row: Vec<Value> = spec
                    .read_columns
                    .iter()
                    .map(|&c| {
                        let name = &spec.schema.columns[c].name;
                        lead.iter()
                            .position(|l| l == name)
                            .and_then(|p| values.get(p).cloned())
                            .unwrap_or(Value::Null)
                    })
                    .collect();
                if !out.push(row)? {
                    return Ok(());
                }
            }
        }
    }
    out.flush()?;
    Ok(())
}
