//! The execution plan node: plan properties, DataFusion's pushdown hooks, and one blocking
//! reader task per partition.

use std::fmt;
use std::sync::Arc;

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
use indexed_store::{AccessPath, ColumnRange, OrderKey};
use kv_store::{Direction, KeyRange};

use super::reads::StatementReads;
use super::snapshots::SharedSnapshots;
use super::spec::{ScanMode, ScanSpec};

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

/// A walk of index entries is split across cores from this many bytes on disk (about
/// 25,000 short entries, milliseconds of reading): below it, handing pieces to other threads
/// costs more than it saves.
const SPLIT_ENTRIES_FROM_BYTES: u64 = 256 << 10;

/// Scans a Quiver table through an index or its primary key.
pub struct IndexScanExec {
    spec: ScanSpec,
    /// Worked out when DataFusion first asks: a scan the fast path builds and reads at once
    /// never needs them.
    properties: std::sync::OnceLock<Arc<PlanProperties>>,
    metrics: ExecutionPlanMetricsSet,
    /// So that all partitions of one execution read one snapshot.
    snapshots: SharedSnapshots,
}

impl fmt::Debug for IndexScanExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IndexScanExec({})", self.spec.schema.name)
    }
}

impl IndexScanExec {
    pub(crate) fn new(spec: ScanSpec) -> Self {
        IndexScanExec {
            spec,
            properties: std::sync::OnceLock::new(),
            metrics: ExecutionPlanMetricsSet::new(),
            snapshots: SharedSnapshots::default(),
        }
    }

    /// Ordering, constant columns and partitioning, as DataFusion's planner reads them.
    fn plan_properties(spec: &ScanSpec) -> PlanProperties {
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
        PlanProperties::new(
            eq,
            Partitioning::UnknownPartitioning(spec.ranges.len()),
            EmissionType::Incremental,
            Boundedness::Bounded,
        )
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

    /// The same scan split into `parts` key ranges of about equal size on disk, so every
    /// core works, when it is a full walk of the primary key, or a long walk of index
    /// entries that hold every column read, with no limit (unchanged otherwise). Finding
    /// the split points asks the store, so scans that are about to become something else
    /// (a skip scan) are not split.
    pub(crate) fn split_across(self, parts: usize) -> Result<Self> {
        let spec = &self.spec;
        // How long a walk must be to be worth splitting (a full scan is split whatever its
        // size, as it always was).
        let min_bytes = match spec.mode {
            ScanMode::Covered if !spec.counts_only() => SPLIT_ENTRIES_FROM_BYTES,
            ScanMode::Records if spec.plan.path.index.is_none() && !spec.plan.is_selective() => 0,
            _ => return Ok(self),
        };
        if spec.fetch.is_some() || spec.offset > 0 || parts < 2 {
            return Ok(self);
        }
        let points = spec
            .table
            .shared_reader()
            .split_points_of(&spec.path(), parts, min_bytes)
            .map_err(crate::error::store_err)?;
        if points.is_empty() {
            return Ok(self);
        }
        let mut spec = self.spec;
        spec.ranges = KeyRange::all().split_at(points);
        Ok(IndexScanExec::new(spec))
    }

    /// The same scan yielding rows in `keys` order from an index (None when no access path
    /// gives that order).
    pub(crate) fn ordered_by(&self, keys: &[OrderKey]) -> Option<Self> {
        let mut spec = self.spec.clone();
        spec.plan_for(keys).ok()?;
        if !spec.plan.ordered {
            return None;
        }
        spec.ranges = vec![KeyRange::all()];
        Some(IndexScanExec::new(spec))
    }

    /// True when the scan yields its rows in the order it was built for.
    pub(crate) fn is_ordered(&self) -> bool {
        self.spec.plan.ordered
    }

    /// The same scan stopping after `fetch` rows (one partition then).
    pub(crate) fn limited(self, fetch: Option<usize>) -> Self {
        let mut spec = self.spec;
        spec.fetch = fetch;
        if fetch.is_some() && spec.ranges.len() > 1 {
            spec.ranges = vec![KeyRange::all()];
        }
        IndexScanExec::new(spec)
    }

    /// A copy of the scan stopping after `fetch` rows.
    pub(crate) fn with_fetch(&self, fetch: usize) -> Self {
        IndexScanExec::new(self.spec.clone()).limited(Some(fetch))
    }

    /// Reads every partition on the calling thread and returns the batches: for reads small
    /// enough that handing them to a blocking task would cost more than the read. `context`
    /// says where the statement reads (see `reads.rs`).
    pub(crate) fn read_now(&self, context: &Arc<TaskContext>) -> Result<Vec<RecordBatch>> {
        let mut batches = Vec::new();
        let reader = match StatementReads::of(context) {
            Some(reads) => reads.reader(&*self.spec.table, context),
            None => self.spec.table.shared_reader(),
        };
        for (partition, range) in self.spec.ranges.iter().enumerate() {
            let (rows_read, baseline) = self.partition_metrics(partition);
            let mut sink = |batch| {
                batches.push(batch);
                true
            };
            let range = range.clone();
            super::read::run_scan(
                &self.spec, &*reader, range, &mut sink, &rows_read, &baseline,
            )?;
        }
        Ok(batches)
    }

    /// A partition's metrics: `rows_read` (entries walked) and DataFusion's baseline.
    fn partition_metrics(&self, partition: usize) -> (Count, BaselineMetrics) {
        (
            MetricBuilder::new(&self.metrics).counter("rows_read", partition),
            BaselineMetrics::new(&self.metrics, partition),
        )
    }

    /// True when the scan reads at most a few rows: a fetch of at most `rows` (after an
    /// offset of at most `rows`), an equality on every primary-key column, or a count that
    /// reads at most `rows` counters (an equality or IN-list of at most `rows` values on
    /// the leading column of an index that keeps counts).
    pub(crate) fn is_small(&self, rows: usize) -> bool {
        let spec = &self.spec;
        let path = &spec.plan.path;
        let counted = spec.mode == ScanMode::Covered
            && spec.counts_only()
            && path.constrained_columns() == 1
            && path.prefixes.len() <= rows
            && matches!(path.range, ColumnRange::All)
            && spec.reads_counters();
        spec.fetch.is_some_and(|f| f <= rows && spec.offset <= rows)
            || spec.plan.is_point()
            || counted
    }

    /// The same scan skipping its first `skip` entries in the store, then stopping after
    /// `fetch` rows: OFFSET without reading the records skipped. None when the scan checks
    /// a filter itself (then skipped entries would have to be read to know they count).
    pub(crate) fn with_offset(&self, skip: usize, fetch: Option<usize>) -> Option<Self> {
        let spec = &self.spec;
        let plain = matches!(spec.mode, ScanMode::Records | ScanMode::Covered);
        if skip == 0
            || spec.offset > 0
            || !plain
            || !spec.residual().is_empty()
            || spec.ranges.len() > 1
        {
            return None;
        }
        let mut spec = spec.clone();
        spec.offset = skip;
        spec.fetch = fetch;
        Some(IndexScanExec::new(spec))
    }

    /// The same scan yielding the distinct values of the `n` columns read, found by a skip
    /// scan (None when it cannot).
    pub fn with_distinct(&self, n: usize) -> Option<Self> {
        let (path, skipped) = self.spec.skip_path(n)?;
        let mut spec = self.spec.clone();
        spec.plan.path = path;
        spec.mode = ScanMode::Distinct(skipped);
        spec.ranges = vec![KeyRange::all()];
        Some(IndexScanExec::new(spec))
    }

    /// The scan that answers `SELECT cols, count(*), ... GROUP BY cols` with `schema` (the
    /// `grouped` columns in order, then `counts` counts) by a facet walk over an index that
    /// leads with the grouped columns (None when it cannot).
    pub fn with_facets(
        &self,
        grouped: &[String],
        schema: SchemaRef,
        counts: usize,
    ) -> Option<Self> {
        let n = grouped.len();
        if n == 0
            || schema.fields().len() != n + counts
            || self.spec.plan.path.direction == Direction::Reverse
        {
            return None;
        }
        let (path, skipped) = self.spec.skip_path(n)?;
        let mut spec = self.spec.clone();
        spec.read_columns = grouped
            .iter()
            .map(|g| spec.schema.column_index(g))
            .collect::<Option<_>>()?;
        spec.plan.path = AccessPath {
            direction: Direction::Forward,
            ..path
        };
        spec.mode = ScanMode::Facets {
            columns: skipped,
            counts,
        };
        spec.read_schema = schema.clone();
        spec.projection = (0..schema.fields().len()).collect();
        spec.output_schema = schema;
        spec.ranges = vec![KeyRange::all()];
        Some(IndexScanExec::new(spec))
    }
}

impl DisplayAs for IndexScanExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        match t {
            DisplayFormatType::Default | DisplayFormatType::Verbose => {
                write!(f, "IndexScanExec: {}", self.spec.describe())
            }
            DisplayFormatType::TreeRender => {
                write!(f, "{}", self.spec.describe().replace(", ", "\n"))
            }
        }
    }
}

impl ExecutionPlan for IndexScanExec {
    fn name(&self) -> &str {
        "IndexScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.properties
            .get_or_init(|| Arc::new(Self::plan_properties(&self.spec)))
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        visit_expressions(self.spec.physical_filters.iter().flatten(), f)
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
        if matches!(
            self.spec.mode,
            ScanMode::Distinct(_) | ScanMode::Facets { .. }
        ) {
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
        Ok(match self.ordered_by(&keys) {
            Some(scan) => SortOrderPushdownResult::Exact {
                inner: Arc::new(scan),
            },
            None => SortOrderPushdownResult::Unsupported,
        })
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let spec = self.spec.clone();
        let range = spec.ranges.get(partition).cloned().ok_or_else(|| {
            DataFusionError::Internal(format!("IndexScanExec has no partition {partition}"))
        })?;
        let reader = match StatementReads::of(&context) {
            Some(reads) => reads.reader(&*spec.table, &context),
            None => self
                .snapshots
                .reader(&*spec.table, partition, spec.ranges.len(), &context),
        };
        let (rows_read, baseline) = self.partition_metrics(partition);
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<RecordBatch>>(2);
        let schema = spec.output_schema.clone();
        tokio::task::spawn_blocking(move || {
            let mut sink = |batch| tx.blocking_send(Ok(batch)).is_ok();
            let read =
                super::read::run_scan(&spec, &*reader, range, &mut sink, &rows_read, &baseline);
            if let Err(e) = read {
                let _ = tx.blocking_send(Err(e));
            }
        });
        let stream =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}
