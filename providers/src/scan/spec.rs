//! What a scan reads and how: the access path, the mode, the order it yields, the ranges of
//! its partitions, decided once when the scan is planned.

use std::sync::Arc;

use datafusion::arrow::compute::SortOptions;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::DFSchema;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::ExecutionProps;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::create_physical_expr;
use datafusion::physical_expr::expressions::Column as PhysicalColumn;
use datafusion::physical_expr::utils::collect_columns;
use datafusion::physical_expr::{PhysicalExpr, PhysicalSortExpr};
use indexed_store::{
    choose_access_path_reading, AccessPath, AccessPlan, ColumnPredicate, ColumnRange, OrderKey,
    Predicate, RowAccess, TableSchema, Value,
};
use kv_store::{Direction, KeyRange};

/// How the scan produces rows.
#[derive(Debug, Clone, PartialEq)]
pub enum ScanMode {
    /// Read records.
    Records,
    /// Read index entries only: every needed column is in the key or INCLUDE columns.
    Covered,
    /// One row per distinct value of the first `n` key columns, found by skipping.
    Distinct(usize),
    /// One row per distinct value of the first `columns` key columns, followed by `counts`
    /// copies of its number of entries (`GROUP BY a` with `count(*)`): a skip scan that
    /// counts each value's range without decoding it.
    Facets { columns: usize, counts: usize },
}

/// Everything a scan needs; shared by its partitions.
#[derive(Clone)]
pub(crate) struct ScanSpec {
    pub table: Arc<dyn RowAccess>,
    pub schema: Arc<TableSchema>,
    /// Pushed filters: the store predicate each one means (if any) and, for those the
    /// access path leaves to the scan, the expression compiled over `read_schema` (None for
    /// the filters the path answers: a fast-path read compiles nothing it does not run).
    pub predicates: Vec<Option<ColumnPredicate>>,
    pub physical_filters: Vec<Option<Arc<dyn PhysicalExpr>>>,
    /// The session's properties the filters are compiled with.
    pub props: Arc<ExecutionProps>,
    /// The pushed filters as given (over unqualified column names), for EXPLAIN.
    pub filters: Vec<Expr>,
    /// Table columns read, ascending.
    pub read_columns: Vec<usize>,
    pub read_schema: SchemaRef,
    /// Output columns as positions in `read_columns`.
    pub projection: Vec<usize>,
    pub output_schema: SchemaRef,
    pub plan: AccessPlan,
    pub mode: ScanMode,
    pub fetch: Option<usize>,
    /// Entries skipped before the first row (OFFSET), without reading their records; only
    /// ever set when the path answers every filter.
    pub offset: usize,
    /// Primary-key ranges, one per partition (one unbounded range for a single partition).
    pub ranges: Vec<KeyRange>,
    /// Planned in a transaction: the scan reads its snapshot with its pending writes merged
    /// in (EXPLAIN says so).
    pub in_transaction: bool,
}

/// The keys a skip scan can walk, each with its key columns: the primary key (None), then
/// every index that holds an entry for every row (a partial index does not).
pub(crate) fn skippable_keys(
    schema: &TableSchema,
) -> impl Iterator<Item = (Option<String>, Vec<String>)> + '_ {
    std::iter::once((None, schema.primary_key.clone())).chain(
        schema.indexes.iter().filter(|i| !i.partial).map(|i| {
            let columns = i.columns.iter().map(|c| c.name.clone()).collect();
            (Some(i.name.clone()), columns)
        }),
    )
}

impl ScanSpec {
    /// Filters the access path does not answer, by position.
    pub(super) fn residual(&self) -> Vec<usize> {
        (0..self.filters.len())
            .filter(|i| !self.plan.answered.contains(i))
            .collect()
    }

    /// The store predicates with their filter positions.
    pub(super) fn store_predicates(&self) -> (Vec<ColumnPredicate>, Vec<usize>) {
        self.predicates
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.clone().map(|p| (p, i)))
            .unzip()
    }

    /// Chooses the access path (and mode) for an ordering, compiling the filters it leaves
    /// to the scan.
    pub fn plan_for(&mut self, order: &[OrderKey]) -> Result<()> {
        let (preds, positions) = self.store_predicates();
        let read: Vec<String> = self
            .read_columns
            .iter()
            .map(|&c| self.schema.columns[c].name.clone())
            .collect();
        let mut plan = choose_access_path_reading(&self.schema, &preds, order, &read);
        plan.answered = plan.answered.iter().map(|i| positions[*i]).collect();
        self.plan = plan;
        self.compile_residual()?;
        self.mode = if self.covers() {
            ScanMode::Covered
        } else {
            ScanMode::Records
        };
        Ok(())
    }

    /// Compiles the filters the access path leaves to the scan that are not compiled yet.
    fn compile_residual(&mut self) -> Result<()> {
        let missing: Vec<usize> = self
            .residual()
            .into_iter()
            .filter(|&i| self.physical_filters[i].is_none())
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let df_schema = DFSchema::try_from(self.read_schema.as_ref().clone())?;
        for i in missing {
            self.physical_filters[i] = Some(create_physical_expr(
                &self.filters[i],
                &df_schema,
                &self.props,
                &PhysicalPlanningContext::default(),
            )?);
        }
        Ok(())
    }

    /// The compiled filter at `i`, which the path leaves to the scan.
    pub(super) fn residual_filter(&self, i: usize) -> Result<&Arc<dyn PhysicalExpr>> {
        self.physical_filters[i].as_ref().ok_or_else(|| {
            DataFusionError::Internal(format!("filter {i} is read but was not compiled"))
        })
    }

    /// True when the chosen secondary index holds every column read.
    pub(super) fn covers(&self) -> bool {
        let needed = self.needed();
        let Some(index) = &self.plan.path.index else {
            return !needed.contains(&true);
        };
        let Some(spec) = self.schema.index(index) else {
            return false;
        };
        self.read_columns
            .iter()
            .zip(&needed)
            .filter(|(_, n)| **n)
            .all(|(&c, _)| self.schema.index_holds(spec, &self.schema.columns[c].name))
    }

    /// Which of the columns read (by position in `read_columns`) the output or a filter the
    /// path leaves to the scan uses. A column only an answered filter mentions is not read:
    /// `array_has(tags, 'x')` answered by the tags index needs no record.
    pub(super) fn needed(&self) -> Vec<bool> {
        let mut needed = vec![false; self.read_columns.len()];
        for &p in &self.projection {
            needed[p] = true;
        }
        for i in self.residual() {
            let Some(filter) = &self.physical_filters[i] else {
                continue;
            };
            for c in collect_columns(filter) {
                if let Some(n) = needed.get_mut(c.index()) {
                    *n = true;
                }
            }
        }
        needed
    }

    /// True when the scan only counts what the path selects: no column is needed and no
    /// filter is left (`count(*)` with an indexed filter).
    pub(super) fn counts_only(&self) -> bool {
        self.residual().is_empty() && !self.needed().contains(&true)
    }

    /// True when the store answers the scan from its per-value counters instead of walking
    /// entries (`read=counters`): a count, a DISTINCT or a facet walk that
    /// [`indexed_store::counters_answer`] accepts.
    pub(super) fn reads_counters(&self) -> bool {
        let counted = match self.mode {
            ScanMode::Covered if self.counts_only() => Some(0),
            ScanMode::Distinct(n) | ScanMode::Facets { columns: n, .. } => Some(n),
            _ => None,
        };
        counted.is_some_and(|n| indexed_store::counters_answer(&self.schema, &self.path(), n))
    }

    /// The types of the columns a batch is built with: the columns read, then any counts.
    pub(super) fn types(&self) -> Vec<indexed_store::ColumnType> {
        let counts = match self.mode {
            ScanMode::Facets { counts, .. } => counts,
            _ => 0,
        };
        self.read_columns
            .iter()
            .map(|&c| self.schema.columns[c].ty.clone())
            .chain(std::iter::repeat_n(
                indexed_store::ColumnType::Int64,
                counts,
            ))
            .collect()
    }

    /// The key columns of the path's index, in key order.
    pub(super) fn lead_columns(&self) -> Vec<String> {
        match &self.plan.path.index {
            None => self.schema.primary_key.clone(),
            Some(i) => self
                .schema
                .index(i)
                .map(|s| s.columns.iter().map(|c| c.name.clone()).collect())
                .unwrap_or_default(),
        }
    }

    /// The path to walk for a partition, with the fetch as its limit when nothing is left to
    /// filter.
    pub(super) fn path(&self) -> AccessPath {
        let mut path = self.plan.path.clone();
        if self.residual().is_empty() {
            path.limit = self.fetch;
            path.offset = self.offset;
        }
        path
    }

    /// The order rows come out in, over the output columns, and the constant columns.
    pub(super) fn output_ordering(&self) -> (Vec<PhysicalSortExpr>, Vec<String>) {
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
            || matches!(self.mode, ScanMode::Distinct(_) | ScanMode::Facets { .. })
                && self.plan.path.index.is_none()
        {
            return (vec![], constants);
        }
        let primary_key = self.schema.primary_key.iter().map(|c| (c.clone(), false));
        // A secondary index walks in its columns' order, then the primary key's.
        let orders: Vec<(String, bool)> = match &self.plan.path.index {
            None => primary_key.collect(),
            Some(name) => match self.schema.index(name) {
                Some(spec) => spec
                    .columns
                    .iter()
                    .map(|c| (c.name.clone(), c.order.is_desc()))
                    .chain(primary_key)
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

    /// The path of a skip scan over the distinct values of the `n` columns read, with the
    /// number of leading key columns it skips over (None when there is none). Without
    /// filters any index (or the primary key) whose leading columns are the ones read will
    /// do; with filters, the path already chosen must answer all of them with one equality
    /// prefix, and its index must lead with the columns read (a range or prefix on those
    /// columns narrows the skip scan) or have them right after the prefix (`WHERE status =
    /// 'active'` then the distinct `contacts_count` of `(status, contacts_count)`: the skip
    /// scan walks distinct (status, contacts_count) pairs under the one status).
    pub(super) fn skip_path(&self, n: usize) -> Option<(AccessPath, usize)> {
        let spec = self;
        if spec.fetch.is_some() || spec.schema.ttl.is_some() {
            return None;
        }
        // The columns the scan outputs are the distinct ones: a column read only for a
        // filter the key range answers is not (counting it made `DISTINCT a ... WHERE a = 1
        // AND b > 2` skip over distinct (a, b) instead, one row per b).
        let wanted: Vec<String> = spec
            .projection
            .iter()
            .map(|&p| spec.schema.columns[spec.read_columns[p]].name.clone())
            .collect();
        let scalar = |c: &String| {
            spec.schema
                .column_index(c)
                .is_some_and(|i| !spec.schema.columns[i].ty.is_list())
        };
        // The columns read are the key columns from `fixed` to `fixed + n`, once those the
        // equality prefix fixes are set aside.
        let leads_after = |cols: &[String], fixed: usize| {
            let rest: Vec<&String> = wanted
                .iter()
                .filter(|w| !cols[..fixed].contains(w))
                .collect();
            cols.len() >= fixed + n
                && rest.len() == n
                && cols[..fixed + n].iter().all(scalar)
                && rest.iter().all(|w| cols[fixed..fixed + n].contains(w))
        };
        if spec.filters.is_empty() {
            let (index, _) = skippable_keys(&spec.schema).find(|(_, cols)| leads_after(cols, 0))?;
            return Some((
                AccessPath {
                    index,
                    ..AccessPath::primary()
                },
                n,
            ));
        }
        let path = &spec.plan.path;
        if !spec.residual().is_empty() || path.prefixes.len() != 1 {
            return None;
        }
        let (_, cols) = skippable_keys(&spec.schema).find(|(index, _)| *index == path.index)?;
        let fixed = spec.plan.equality_columns;
        let skipped = if leads_after(&cols, 0) {
            n
        } else if fixed > 0 && leads_after(&cols, fixed) {
            fixed + n
        } else {
            return None;
        };
        let path = AccessPath {
            limit: None,
            ..path.clone()
        };
        Some((path, skipped))
    }

    /// The range on the column after the equality prefix, as EXPLAIN shows it.
    fn describe_range(&self) -> Option<String> {
        let col = self.plan.key_columns.get(self.plan.equality_columns)?;
        match &self.plan.path.range {
            ColumnRange::All => None,
            ColumnRange::StartsWith(pre) => Some(format!("range={col} LIKE '{pre}%'")),
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
                Some(format!("range={col} in {lo}, {hi}"))
            }
        }
    }

    /// The one-line description EXPLAIN shows.
    pub(super) fn describe(&self) -> String {
        let s = self;
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
        parts.extend(s.describe_range());
        if let Some(seek) = &p.seek {
            let op = match (seek.above, seek.inclusive) {
                (false, false) => "<",
                (false, true) => "<=",
                (true, false) => ">",
                (true, true) => ">=",
            };
            let values: Vec<String> = seek.values.iter().map(|v| v.to_string()).collect();
            parts.push(format!(
                "seek=({}) {op} ({})",
                s.plan.seek_columns.join(", "),
                values.join(", ")
            ));
        }
        parts.push(format!(
            "direction={}",
            if p.direction == Direction::Reverse {
                "reverse"
            } else {
                "forward"
            }
        ));
        if s.offset > 0 {
            parts.push(format!("offset={}", s.offset));
        }
        if let Some(f) = s.fetch {
            parts.push(format!("limit={f}"));
        }
        match s.mode {
            ScanMode::Records => parts.push("covered=false".into()),
            ScanMode::Covered => parts.push("covered=true".into()),
            ScanMode::Distinct(n) => parts.push(format!("distinct={n}")),
            ScanMode::Facets { columns, .. } => parts.push(format!("facets={columns}")),
        }
        if s.reads_counters() {
            parts.push("read=counters".into());
        }
        if s.in_transaction {
            parts.push("pending=merged".into());
        }
        let residual: Vec<String> = s
            .residual()
            .iter()
            .map(|&i| s.filters[i].to_string())
            .collect();
        if !residual.is_empty() {
            parts.push(format!("residual=[{}]", residual.join(" AND ")));
        }
        if s.ranges.len() > 1 {
            parts.push(format!("partitions={}", s.ranges.len()));
        }
        parts.push(format!(
            "projection=[{}]",
            self.output_schema
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        parts.join(", ")
    }
}
