//! The fast path: a statement whose optimized plan is one Quiver table scan under column
//! projections, a filter, an ORDER BY that an index yields, a LIMIT/OFFSET, `count(*)`, or a
//! DISTINCT / `GROUP BY` of columns with only `count(*)`s that a skip scan or a facet walk
//! answers, runs by building its `IndexScanExec` straight from the bound parameters, with no
//! logical optimizer and no physical planner. Everything else goes to DataFusion's planner.
//!
//! The shape is recognised once, when the statement is prepared, on the plan DataFusion
//! optimized with its placeholders in place (so type coercion, projection pushdown and
//! limit pushdown are DataFusion's own). What can only be decided with the values in hand
//! is decided per execution, and falls back to planning when it does not hold: a parameter
//! bound with another type than the one the plan inferred, or an ORDER BY no access path
//! yields for the predicates these values make.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::datasource::source_as_provider;
use datafusion::error::Result;
use datafusion::execution::session_state::SessionState;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{Expr, FetchType, LogicalPlan, SkipType, Volatility};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{execute_stream, ExecutionPlan, SendableRecordBatchStream};
use futures::{StreamExt, TryStreamExt};
use indexed_store::{OrderKey, RowAccess};

use crate::expr::{evaluable_in_scan, unqualified};
use crate::scan::{skippable_keys, IndexScanExec};
use crate::table::{build_scan, QuiverTable};

/// Largest fetch read on the calling task instead of a blocking one: reading this many rows
/// costs less than handing the read to another thread.
const INLINE_ROWS: usize = 1000;

/// A statement the fast path can run: what to scan and what to make of the rows.
#[derive(Clone)]
pub(crate) struct FastPlan {
    table: Arc<dyn RowAccess>,
    /// The table as its provider showed it when planned.
    arrow: SchemaRef,
    /// Table columns the scan yields, in order.
    scan_projection: Vec<usize>,
    /// WHERE conjuncts over table column names, with their placeholders.
    filters: Vec<Expr>,
    parameters: Parameters,
    order: Vec<OrderKey>,
    skip: usize,
    fetch: Option<usize>,
    /// `Some(k)`: one row of `k` counts of the matching rows instead of the rows.
    counts: Option<usize>,
    /// The grouping that replaces the rows: their distinct values, or facet counts.
    groups: Option<Groups>,
    /// Output columns as positions in the scan's output (or in the counts).
    columns: Vec<usize>,
    schema: SchemaRef,
}

/// `SELECT DISTINCT cols` or `SELECT cols, count(*) ... GROUP BY cols`: answered by the
/// same skip scan or facet walk DataFusion's plan gets from [`DistinctScan`].
#[derive(Clone)]
struct Groups {
    /// The grouped table columns, in the aggregate's order.
    names: Vec<String>,
    /// `count(*)`s after them (0: a DISTINCT).
    counts: usize,
    /// The aggregate's output: the grouped columns, then the counts.
    schema: SchemaRef,
}

impl std::fmt::Debug for FastPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FastPlan({})", self.describe())
    }
}

/// What the plan below a node amounts to, built bottom-up.
struct Lowered {
    table: Arc<dyn RowAccess>,
    arrow: SchemaRef,
    scan_projection: Vec<usize>,
    /// Table column names of the scan's output.
    scan_names: Vec<String>,
    filters: Vec<Expr>,
    order: Vec<OrderKey>,
    skip: usize,
    fetch: Option<usize>,
    counts: Option<usize>,
    groups: Option<Groups>,
    columns: Vec<usize>,
}

impl Lowered {
    /// Rows as the scan yields them: nothing ordered, limited, counted or grouped yet.
    fn plain(&self) -> bool {
        self.order.is_empty()
            && self.skip == 0
            && self.fetch.is_none()
            && self.counts.is_none()
            && self.groups.is_none()
    }
}

/// The fast plan of a query, from its plan as optimized, when it has the shape. The caller
/// first checks the plan as planned with [`depends_on_time_or_chance`].
pub(crate) fn analyze(plan: &LogicalPlan) -> Option<FastPlan> {
    let mut lowered = lower(plan, true)?;
    let parameters = Parameters::of(&lowered.filters)?;
    // The scan reads what the output needs: the optimizer kept the columns the filters above
    // the scan use, but the scan reads those itself (and a count needs none; a facet walk
    // has its grouped columns already).
    let facets = lowered.groups.as_ref().is_some_and(|g| g.counts > 0);
    let picks_columns = lowered.counts.is_none() && !facets;
    let needed: Vec<usize> = if picks_columns {
        let mut n = lowered.columns.clone();
        n.sort_unstable();
        n.dedup();
        n
    } else if facets {
        (0..lowered.scan_projection.len()).collect()
    } else {
        Vec::new()
    };
    if picks_columns {
        lowered.columns = lowered
            .columns
            .iter()
            .map(|c| needed.binary_search(c).unwrap_or(0))
            .collect();
    }
    lowered.scan_projection = needed.iter().map(|&i| lowered.scan_projection[i]).collect();
    Some(FastPlan {
        table: lowered.table,
        arrow: lowered.arrow,
        scan_projection: lowered.scan_projection,
        filters: lowered.filters,
        parameters,
        order: lowered.order,
        skip: lowered.skip,
        fetch: lowered.fetch,
        counts: lowered.counts,
        groups: lowered.groups,
        columns: lowered.columns,
        schema: Arc::new(plan.schema().as_arrow().clone()),
    })
}

fn lower(plan: &LogicalPlan, top: bool) -> Option<Lowered> {
    match plan {
        LogicalPlan::TableScan(scan) => lower_scan(scan),
        LogicalPlan::SubqueryAlias(a) => lower(&a.input, top),
        LogicalPlan::Filter(f) => {
            let mut inner = lower(&f.input, false)?;
            if !inner.plain() {
                return None;
            }
            for c in split_conjunction(&f.predicate) {
                if !evaluable_once_bound(c) {
                    return None;
                }
                inner.filters.push(unqualified(c.clone()).ok()?);
            }
            Some(inner)
        }
        LogicalPlan::Sort(s) => {
            let mut inner = lower(&s.input, false)?;
            if !inner.plain() || s.expr.is_empty() {
                return None;
            }
            for e in &s.expr {
                let Expr::Column(c) = &e.expr else {
                    return None;
                };
                let i = s.input.schema().index_of_column(c).ok()?;
                inner.order.push(OrderKey {
                    column: inner.scan_names.get(*inner.columns.get(i)?)?.clone(),
                    descending: !e.asc,
                    nulls_first: e.nulls_first,
                });
            }
            inner.fetch = s.fetch;
            Some(inner)
        }
        LogicalPlan::Limit(l) => lower_limit(l),
        LogicalPlan::Projection(p) => {
            let mut inner = lower(&p.input, false)?;
            let mut columns = Vec::with_capacity(p.expr.len());
            for e in &p.expr {
                // Only the outermost projection may rename (the optimizer may stack aliases:
                // `count(Int64(1)) AS count(*) AS n`): below it, names are the table's and
                // filters and sorts are read by them.
                let mut e = e;
                while let (Expr::Alias(a), true) = (e, top) {
                    e = a.expr.as_ref();
                }
                let Expr::Column(c) = e else {
                    return None;
                };
                let i = p.input.schema().index_of_column(c).ok()?;
                columns.push(*inner.columns.get(i)?);
            }
            inner.columns = columns;
            Some(inner)
        }
        LogicalPlan::Aggregate(a) => {
            let inner = lower(&a.input, false)?;
            if !inner.plain() || !a.aggr_expr.iter().all(counts_rows) {
                return None;
            }
            let k = a.aggr_expr.len();
            if a.group_expr.is_empty() {
                return Some(Lowered {
                    counts: Some(k),
                    columns: (0..k).collect(),
                    ..inner
                });
            }
            lower_groups(a, inner)
        }
        _ => None,
    }
}

/// A scan of a Quiver table (without a loader: a table that loads before it reads is left
/// to DataFusion's plan).
fn lower_scan(scan: &datafusion::logical_expr::TableScan) -> Option<Lowered> {
    let provider = source_as_provider(&scan.source).ok()?;
    let table = provider.downcast_ref::<QuiverTable>()?;
    // A table with a loader loads before it reads: DataFusion's plan does that.
    if table.has_loader() {
        return None;
    }
    let access = table.access().clone();
    let schema = access.schema();
    let scan_projection = scan
        .projection
        .clone()
        .unwrap_or_else(|| (0..schema.columns.len()).collect());
    let scan_names = scan_projection
        .iter()
        .map(|&i| schema.columns.get(i).map(|c| c.name.clone()))
        .collect::<Option<Vec<_>>>()?;
    let filters = scan
        .filters
        .iter()
        .map(|f| unqualified(f.clone()).ok())
        .collect::<Option<Vec<_>>>()?;
    Some(Lowered {
        table: access,
        arrow: datafusion::datasource::TableProvider::schema(table),
        columns: (0..scan_projection.len()).collect(),
        scan_projection,
        scan_names,
        filters,
        order: Vec::new(),
        skip: 0,
        fetch: scan.fetch,
        counts: None,
        groups: None,
    })
}

/// A LIMIT (with OFFSET) over a plain scan.
fn lower_limit(l: &datafusion::logical_expr::Limit) -> Option<Lowered> {
    let mut inner = lower(&l.input, false)?;
    if inner.counts.is_some() || inner.groups.is_some() || inner.skip > 0 {
        return None;
    }
    let SkipType::Literal(skip) = l.get_skip_type().ok()? else {
        return None;
    };
    let FetchType::Literal(fetch) = l.get_fetch_type().ok()? else {
        return None;
    };
    // The rows below are at most `inner.fetch`; this node skips then takes.
    let left = inner.fetch.map(|f| f.saturating_sub(skip));
    inner.skip = skip;
    inner.fetch = match (left, fetch) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    Some(inner)
}

/// A GROUP BY of plain columns (or a DISTINCT, which the optimizer made one) under only
/// `count(*)`s, over a table where some key holds every grouped column: whether a skip scan
/// can answer it depends on the filters' values, and is decided per execution.
fn lower_groups(a: &datafusion::logical_expr::Aggregate, inner: Lowered) -> Option<Lowered> {
    let mut positions = Vec::with_capacity(a.group_expr.len());
    for e in &a.group_expr {
        let Expr::Column(c) = e else {
            return None;
        };
        let i = a.input.schema().index_of_column(c).ok()?;
        let at = *inner.columns.get(i)?;
        if positions.contains(&at) {
            return None;
        }
        positions.push(at);
    }
    let names: Vec<String> = positions
        .iter()
        .map(|&p| inner.scan_names.get(p).cloned())
        .collect::<Option<_>>()?;
    if !skippable_keys(&inner.table.schema()).any(|(_, k)| names.iter().all(|n| k.contains(n))) {
        return None;
    }
    let (counts, width) = (a.aggr_expr.len(), names.len() + a.aggr_expr.len());
    let aggregated: SchemaRef = Arc::new(a.schema.as_arrow().clone());
    let groups = Some(Groups {
        names,
        counts,
        schema: aggregated.clone(),
    });
    if counts == 0 {
        // A skip scan yields the grouped columns as the scan reads them.
        return Some(Lowered {
            columns: positions,
            groups,
            ..inner
        });
    }
    // A facet walk yields the aggregate's own rows: the grouped columns in its order, then
    // the counts.
    let scan_projection = positions
        .iter()
        .map(|&p| inner.scan_projection[p])
        .collect();
    let scan_names = aggregated
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    Some(Lowered {
        scan_projection,
        scan_names,
        columns: (0..width).collect(),
        groups,
        ..inner
    })
}

/// `count(*)` (or `count` of a non-null constant): the number of rows.
fn counts_rows(e: &Expr) -> bool {
    let e = match e {
        Expr::Alias(a) => a.expr.as_ref(),
        e => e,
    };
    let Expr::AggregateFunction(f) = e else {
        return false;
    };
    f.func.name() == "count"
        && !f.params.distinct
        && f.params.filter.is_none()
        && f.params.order_by.is_empty()
        && matches!(f.params.args.as_slice(), [Expr::Literal(v, _)] if !v.is_null())
}

/// A cheap look before optimizing a plan only to analyze it: the fast path takes nothing
/// but one scan of one Quiver table (the target of a write, or the source of a query) with
/// no join, union, window, DISTINCT ON or subquery around it. Statements that fail this (a
/// job function call, a join) skip that extra optimization when first planned.
pub(crate) fn may_be_fast(plan: &LogicalPlan) -> bool {
    let mut scans = 0;
    let mut other = false;
    let _ = plan.apply_with_subqueries(|node| {
        match node {
            LogicalPlan::TableScan(scan) => {
                scans += 1;
                other |= !source_as_provider(&scan.source).is_ok_and(|p| p.is::<QuiverTable>());
            }
            LogicalPlan::Join(_)
            | LogicalPlan::Union(_)
            | LogicalPlan::Window(_)
            | LogicalPlan::Distinct(datafusion::logical_expr::Distinct::On(_))
            | LogicalPlan::Subquery(_)
            | LogicalPlan::RecursiveQuery(_) => other = true,
            _ => {}
        }
        Ok(if other {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    !other && scans <= 1
}

/// True when any expression of the plan calls a function that is not immutable: the
/// optimizer folds `now()` into a constant (so a plan optimized once would keep the time it
/// was prepared at) and `random()` must be drawn per row.
pub(crate) fn depends_on_time_or_chance(plan: &LogicalPlan) -> bool {
    let mut found = false;
    let _ = plan.apply_with_subqueries(|node| {
        node.apply_expressions(|e| {
            e.apply(|x| {
                if let Expr::ScalarFunction(f) = x {
                    if f.func.signature().volatility != Volatility::Immutable {
                        found = true;
                        return Ok(TreeNodeRecursion::Stop);
                    }
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    });
    found
}

/// True when the scan can evaluate the conjunct once its placeholders hold values.
fn evaluable_once_bound(e: &Expr) -> bool {
    evaluable_in_scan(&without_placeholders(e))
}

/// The expression with each placeholder as a NULL (only its shape matters).
fn without_placeholders(e: &Expr) -> Expr {
    e.clone()
        .transform(|node| match node {
            Expr::Placeholder(_) => Ok(Transformed::yes(Expr::Literal(ScalarValue::Null, None))),
            other => Ok(Transformed::no(other)),
        })
        .map(|t| t.data)
        .unwrap_or_else(|_| e.clone())
}

impl FastPlan {
    /// Runs the statement with `params`, or returns None when these values need the planner.
    pub(crate) fn execute(
        &self,
        state: &SessionState,
        task: &dyn Fn() -> Arc<TaskContext>,
        params: &ParamValues,
    ) -> Result<Option<SendableRecordBatchStream>> {
        let Some(filters) = self.bind(params)? else {
            return Ok(None);
        };
        if let Some(groups) = &self.groups {
            return self.execute_groups(groups, state, task, filters);
        }
        let Some((scan, skip)) = self.rows_scan(state, filters)? else {
            return Ok(None);
        };
        let small = scan.is_small(INLINE_ROWS);
        if self.counts.is_some() {
            let (schema, width) = (self.schema.clone(), self.columns.len());
            if small {
                let n = scan.read_now(&task())?.iter().map(|b| b.num_rows()).sum();
                return Ok(Some(self.stream_of(vec![count_batch(&schema, width, n)?])));
            }
            // A count of many rows reads in a blocking task like any long scan.
            let rows = execute_stream(Arc::new(scan) as Arc<dyn ExecutionPlan>, task())?;
            let counted = futures::stream::once(async move {
                let n = rows
                    .try_fold(0, |n, b| futures::future::ready(Ok(n + b.num_rows())))
                    .await?;
                count_batch(&schema, width, n)
            });
            return Ok(Some(Box::pin(RecordBatchStreamAdapter::new(
                self.schema.clone(),
                counted,
            ))));
        }
        if small {
            let batches = self.shape(scan.read_now(&task())?, skip)?;
            return Ok(Some(self.stream_of(batches)));
        }
        self.read_in_task(scan, task, skip).map(Some)
    }

    /// The scan that reads the rows for these bound filters, with the part of the offset
    /// it leaves to be skipped here; None when no access path yields the ORDER BY.
    fn rows_scan(
        &self,
        state: &SessionState,
        filters: Vec<Expr>,
    ) -> Result<Option<(IndexScanExec, usize)>> {
        let total = self.fetch.map(|f| f + self.skip);
        let scan = self.scan(state, filters, total)?;
        let scan = if self.order.is_empty() {
            scan.split_across(state.config().target_partitions())?
        } else if scan.is_ordered() {
            scan
        } else {
            return Ok(None);
        };
        // The offset goes into the scan when it can skip entries without reading them.
        Ok(Some(match scan.with_offset(self.skip, self.fetch) {
            Some(skipping) => (skipping, 0),
            None => (scan, self.skip),
        }))
    }

    /// The skip scan or facet walk of a grouping, or None when these filters keep it from
    /// skipping.
    fn grouped_scan(
        &self,
        groups: &Groups,
        state: &SessionState,
        filters: Vec<Expr>,
    ) -> Result<Option<IndexScanExec>> {
        let scan = self.scan(state, filters, None)?;
        Ok(match groups.counts {
            0 => scan.with_distinct(groups.names.len()),
            k => scan.with_facets(&groups.names, groups.schema.clone(), k),
        })
    }

    /// The scan these parameters would run, as EXPLAIN prints it; None when they need the
    /// planner.
    pub(crate) fn explain(
        &self,
        state: &SessionState,
        params: &ParamValues,
    ) -> Result<Option<String>> {
        let Some(filters) = self.bind(params)? else {
            return Ok(None);
        };
        let scan = match &self.groups {
            Some(groups) => self.grouped_scan(groups, state, filters)?,
            None => self.rows_scan(state, filters)?.map(|(scan, _)| scan),
        };
        Ok(scan.map(|s| {
            datafusion::physical_plan::displayable(&s)
                .one_line()
                .to_string()
                .trim_end()
                .to_owned()
        }))
    }

    /// The scan of the statement's table with these bound filters.
    fn scan(
        &self,
        state: &SessionState,
        filters: Vec<Expr>,
        limit: Option<usize>,
    ) -> Result<IndexScanExec> {
        build_scan(
            state,
            self.table.clone(),
            &self.arrow,
            Some(&self.scan_projection),
            filters,
            limit,
            &self.order,
        )
    }

    /// The scan's rows read in a blocking task (a long read would hold up the async
    /// runtime), with what is left of the offset and the limit applied and the output
    /// columns picked.
    fn read_in_task(
        &self,
        scan: IndexScanExec,
        task: &dyn Fn() -> Arc<TaskContext>,
        skip: usize,
    ) -> Result<SendableRecordBatchStream> {
        let stream = execute_stream(Arc::new(scan) as Arc<dyn ExecutionPlan>, task())?;
        let (schema, columns) = (self.schema.clone(), self.columns.clone());
        let mut window = Window::new(skip, self.fetch);
        let shaped = stream.map(move |b| {
            let b = b?;
            let b = window.take(b);
            reshape(&b, &columns, &schema)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            shaped,
        )))
    }

    /// A DISTINCT by skip scan or a GROUP BY by facet walk, or None when these filters keep
    /// the scan from skipping (the planner then aggregates what the scan reads).
    fn execute_groups(
        &self,
        groups: &Groups,
        state: &SessionState,
        task: &dyn Fn() -> Arc<TaskContext>,
        filters: Vec<Expr>,
    ) -> Result<Option<SendableRecordBatchStream>> {
        let Some(grouped) = self.grouped_scan(groups, state, filters)? else {
            return Ok(None);
        };
        if groups.counts == 0 {
            // A skip scan costs a seek per value: one of few values is read here, at once.
            // Past INLINE_ROWS values, what was read is dropped and the whole walk is read
            // in a blocking task (it would take milliseconds anyway).
            let batches = grouped.with_fetch(INLINE_ROWS + 1).read_now(&task())?;
            if batches.iter().map(|b| b.num_rows()).sum::<usize>() <= INLINE_ROWS {
                return Ok(Some(self.stream_of(self.shape(batches, 0)?)));
            }
        }
        // A walk of many values (or a long count) reads like any long scan.
        self.read_in_task(grouped, task, 0).map(Some)
    }

    /// The filters with their placeholders bound, or None when a value's type is not the
    /// one the plan was optimized for.
    fn bind(&self, params: &ParamValues) -> Result<Option<Vec<Expr>>> {
        let Some(values) = self.parameters.values(params)? else {
            return Ok(None);
        };
        let bound = self
            .filters
            .iter()
            .map(|f| substitute(f, &values))
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(bound))
    }

    /// The scan's batches with what is left of the offset and the limit applied and the output columns picked.
    fn shape(&self, batches: Vec<RecordBatch>, skip: usize) -> Result<Vec<RecordBatch>> {
        let mut window = Window::new(skip, self.fetch);
        batches
            .into_iter()
            .map(|b| reshape(&window.take(b), &self.columns, &self.schema))
            .filter(|b| b.as_ref().map_or(true, |b| b.num_rows() > 0))
            .collect()
    }

    fn stream_of(&self, batches: Vec<RecordBatch>) -> SendableRecordBatchStream {
        Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            futures::stream::iter(batches.into_iter().map(Ok)),
        ))
    }

    /// A line for `sys.plan_cache`: the table and what the fast path does.
    pub(crate) fn describe(&self) -> String {
        let mut s = self.table.schema().name.clone();
        if self.counts.is_some() {
            s.push_str(", count");
        }
        match &self.groups {
            Some(g) if g.counts == 0 => s.push_str(", distinct by skip scan"),
            Some(_) => s.push_str(", facets by index walk"),
            None => {}
        }
        if !self.order.is_empty() {
            s.push_str(", ordered by index");
        }
        if let Some(f) = self.fetch {
            s.push_str(&format!(", fetch {f}"));
        }
        s
    }
}

/// The placeholders of a statement and the type the plan expects of each.
#[derive(Debug, Clone, Default)]
pub(crate) struct Parameters(HashMap<String, DataType>);

impl Parameters {
    /// The placeholders in `exprs`; None when one has no type.
    pub(crate) fn of<'a>(exprs: impl IntoIterator<Item = &'a Expr>) -> Option<Self> {
        let mut types = HashMap::new();
        let mut typed = true;
        for e in exprs {
            let _ = e.apply(|node| {
                if let Expr::Placeholder(p) = node {
                    match &p.field {
                        Some(field) => {
                            types.insert(p.id.clone(), field.data_type().clone());
                        }
                        None => typed = false,
                    }
                }
                Ok(TreeNodeRecursion::Continue)
            });
        }
        typed.then_some(Parameters(types))
    }

    /// Each placeholder's bound value as a literal, or None when a value has another type
    /// than planned (a NULL takes the planned type).
    pub(crate) fn values(&self, params: &ParamValues) -> Result<Option<HashMap<String, Expr>>> {
        let mut values = HashMap::with_capacity(self.0.len());
        for (id, ty) in &self.0 {
            let (value, metadata) = params.get_placeholders_with_values(id)?.into_inner();
            let value = if value.data_type() == *ty {
                value
            } else if value.is_null() {
                ScalarValue::try_from(ty)?
            } else {
                return Ok(None);
            };
            values.insert(id.clone(), Expr::Literal(value, metadata));
        }
        Ok(Some(values))
    }
}

/// `e` with each placeholder replaced by its value.
pub(crate) fn substitute(e: &Expr, values: &HashMap<String, Expr>) -> Result<Expr> {
    e.clone()
        .transform(|node| match node {
            Expr::Placeholder(p) => Ok(match values.get(&p.id) {
                Some(v) => Transformed::yes(v.clone()),
                None => Transformed::no(Expr::Placeholder(p)),
            }),
            other => Ok(Transformed::no(other)),
        })
        .map(|t| t.data)
}

/// OFFSET then LIMIT over a sequence of batches.
struct Window {
    skip: usize,
    left: Option<usize>,
}

impl Window {
    fn new(skip: usize, fetch: Option<usize>) -> Self {
        Window { skip, left: fetch }
    }

    fn take(&mut self, batch: RecordBatch) -> RecordBatch {
        let n = batch.num_rows();
        let start = self.skip.min(n);
        self.skip -= start;
        let len = self.left.map_or(n - start, |l| l.min(n - start));
        if let Some(l) = &mut self.left {
            *l -= len;
        }
        batch.slice(start, len)
    }
}

/// One row of `width` copies of the count `n`.
fn count_batch(schema: &SchemaRef, width: usize, n: usize) -> Result<RecordBatch> {
    let count: ArrayRef = Arc::new(Int64Array::from(vec![n as i64]));
    Ok(RecordBatch::try_new(schema.clone(), vec![count; width])?)
}

/// The batch's `columns`, under the statement's output schema.
fn reshape(batch: &RecordBatch, columns: &[usize], schema: &SchemaRef) -> Result<RecordBatch> {
    let arrays = columns.iter().map(|&i| batch.column(i).clone()).collect();
    let options = datafusion::arrow::record_batch::RecordBatchOptions::new()
        .with_row_count(Some(batch.num_rows()));
    Ok(RecordBatch::try_new_with_options(
        schema.clone(),
        arrays,
        &options,
    )?)
}
