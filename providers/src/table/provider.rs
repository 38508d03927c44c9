//! `QuiverTable`: a Quiver table as a DataFusion `TableProvider`.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::datasource::TableProvider;
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::ExecutionPlan;
use indexed_store::{AccessPlan, OrderKey, RowAccess, TableSchema};
use kv_store::KeyRange;

use super::loader::{LoaderExec, Need, TableLoader};
use crate::convert::arrow_schema_in;
use crate::expr::{compile, evaluable_in_scan, simplified, to_predicate, unqualified};
use crate::scan::{IndexScanExec, ScanMode, ScanSpec, StatementReads};
use crate::write::{DmlExec, DmlKind, RowCheck};

/// A table of a Quiver database, queryable and writable through DataFusion.
pub struct QuiverTable {
    access: Arc<dyn RowAccess>,
    schema: SchemaRef,
    /// What every row written through SQL must pass.
    check: Option<RowCheck>,
    /// The columns' DEFAULTs, planned: what an INSERT that omits a column stores.
    defaults: std::collections::HashMap<String, Expr>,
    /// Where the table's rows come from, when it mirrors another service.
    loader: Option<Arc<TableLoader>>,
}

impl std::fmt::Debug for QuiverTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "QuiverTable({})", self.access.schema().name)
    }
}

impl QuiverTable {
    /// Wraps a table (its TIMESTAMPTZ columns shown in UTC).
    pub fn new(access: Arc<dyn RowAccess>) -> Self {
        Self::in_time_zone(access, None)
    }

    /// Wraps a table for a session in `time_zone`: its TIMESTAMPTZ columns are shown in it.
    pub fn in_time_zone(access: Arc<dyn RowAccess>, time_zone: Option<&str>) -> Self {
        let table = access.schema();
        let schema = arrow_schema_in(&table, time_zone);
        // Checked when the table was created; one that stopped planning (a function gone
        // from DataFusion) leaves the column to NULL, as DataFusion does without a default.
        let defaults = table
            .columns
            .iter()
            .filter_map(|c| {
                let text = c.default.as_ref()?;
                let expr = crate::expr::default_expr(text, &c.ty).ok()?;
                Some((c.name.clone(), expr))
            })
            .collect();
        QuiverTable {
            access,
            schema,
            check: None,
            defaults,
            loader: None,
        }
    }

    /// The same table, loading the rows its scans need through its loader first (see
    /// `loader.rs`).
    pub(crate) fn with_loader(mut self, loader: Option<Arc<TableLoader>>) -> Self {
        self.loader = loader;
        self
    }

    /// True when the table has a loader: its scans must go through [`LoaderExec`].
    pub(crate) fn has_loader(&self) -> bool {
        self.loader.is_some()
    }

    /// The same table, refusing writes of rows that fail `check`.
    pub(crate) fn with_check(mut self, check: RowCheck) -> Self {
        self.check = Some(check);
        self
    }

    /// The table's rows.
    pub(crate) fn access(&self) -> &Arc<dyn RowAccess> {
        &self.access
    }
}

/// Builds the scan of `access` for a projection, filters, limit and the order its rows are
/// wanted in (empty: any order); `arrow` is the table as its provider shows it (see
/// [`QuiverTable::in_time_zone`]). The access path is chosen once, here.
pub(crate) fn build_scan(
    state: &dyn Session,
    access: Arc<dyn RowAccess>,
    arrow: &SchemaRef,
    projection: Option<&Vec<usize>>,
    mut filters: Vec<Expr>,
    limit: Option<usize>,
    order: &[OrderKey],
) -> Result<IndexScanExec> {
    let schema: Arc<TableSchema> = access.schema();
    let proj: Vec<usize> = projection
        .cloned()
        .unwrap_or_else(|| (0..schema.columns.len()).collect());
    let mut read = vec![false; schema.columns.len()];
    for &c in &proj {
        read[c] = true;
    }
    // One walk of each filter finds the columns it reads and whether any is qualified (the
    // fast path's filters never are: they were unqualified when it was prepared).
    for f in &mut filters {
        let mut qualified = false;
        f.apply(|node| {
            if let Expr::Column(c) = node {
                qualified |= c.relation.is_some();
                if let Some(i) = schema.column_index(&c.name) {
                    read[i] = true;
                }
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        if qualified {
            *f = unqualified(f.clone())?;
        }
    }
    let read_columns: Vec<usize> = (0..read.len()).filter(|&i| read[i]).collect();
    let read_schema = Arc::new(arrow.project(&read_columns)?);
    let projection: Vec<usize> = proj
        .iter()
        .map(|c| {
            read_columns
                .iter()
                .position(|r| r == c)
                .expect("projected columns are read")
        })
        .collect();
    let output_schema = Arc::new(arrow.project(&proj)?);
    let predicates = filters.iter().map(|f| to_predicate(f, &schema)).collect();
    let mut spec = ScanSpec {
        table: access,
        plan: AccessPlan::full_scan(&schema),
        schema,
        predicates,
        // Filters come out of an analyzed plan (types already coerced, placeholders bound to
        // values of the planned types), so they skip the session's simplify-and-coerce pass.
        physical_filters: vec![None; filters.len()],
        props: Arc::new(state.execution_props().clone()),
        filters,
        read_columns,
        read_schema,
        projection,
        output_schema,
        mode: ScanMode::Records,
        fetch: limit,
        offset: 0,
        ranges: vec![KeyRange::all()],
        in_transaction: state
            .config()
            .get_extension::<StatementReads>()
            .is_some_and(|r| r.transaction().is_some()),
    };
    spec.plan_for(order)?;
    Ok(IndexScanExec::new(spec))
}

#[async_trait]
impl TableProvider for QuiverTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn get_column_default(&self, column: &str) -> Option<&Expr> {
        self.defaults.get(column)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        // Every filter the scan can evaluate is Exact: the index answers what it can and the
        // scan node checks the rest itself, so no FilterExec blocks sort or limit pushdown.
        Ok(filters
            .iter()
            .map(|f| {
                if evaluable_in_scan(f) {
                    TableProviderFilterPushDown::Exact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let scan = Arc::new(
            build_scan(
                state,
                self.access.clone(),
                &self.schema,
                projection,
                filters.to_vec(),
                limit,
                &[],
            )?
            .split_across(state.config().target_partitions())?,
        );
        // A scan that needs nothing loaded (a keyed table read without naming keys) is a
        // plain scan, open to every other optimization.
        let need = self.loader.as_ref().map(|l| (l, l.need(filters)));
        Ok(match need {
            Some((loader, need)) if need != Need::Nothing => {
                Arc::new(LoaderExec::new(loader.clone(), need, scan))
            }
            _ => scan,
        })
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        op: InsertOp,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(self.insert_exec(input, op)?))
    }

    async fn delete_from(
        &self,
        state: &dyn Session,
        filters: Vec<Expr>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(self.delete_exec(state, &filters)?))
    }

    async fn update(
        &self,
        state: &dyn Session,
        assignments: Vec<(String, Expr)>,
        filters: Vec<Expr>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(self.update_exec(state, assignments, &filters)?))
    }
}

/// The write plans, built the same way by DataFusion's planner (through the `TableProvider`
/// methods above) and by the plan cache's fast path.
impl QuiverTable {
    /// INSERT (or INSERT OR REPLACE) of `input`'s rows.
    pub(crate) fn insert_exec(
        &self,
        input: Arc<dyn ExecutionPlan>,
        op: InsertOp,
    ) -> Result<DmlExec> {
        let kind = match op {
            InsertOp::Append => DmlKind::Insert {
                input,
                upsert: false,
            },
            InsertOp::Replace => DmlKind::Insert {
                input,
                upsert: true,
            },
            InsertOp::Overwrite => {
                return Err(DataFusionError::NotImplemented(
                    "INSERT OVERWRITE is not supported; use DELETE then INSERT".into(),
                ))
            }
        };
        Ok(DmlExec::new(self.access.clone(), kind).with_check(self.check.clone()))
    }

    /// What a write's WHERE becomes: the scan that finds its candidate rows, and the WHERE
    /// compiled over whole rows for re-checking a row that changed.
    fn write_matcher(
        &self,
        state: &dyn Session,
        filters: &[Expr],
    ) -> Result<(Arc<IndexScanExec>, Vec<Arc<dyn PhysicalExpr>>)> {
        let filters = simplified(state, filters, &self.schema)?;
        let access = self.access.clone();
        let matcher = build_scan(
            state,
            access,
            &self.schema,
            None,
            filters.clone(),
            None,
            &[],
        )?;
        Ok((Arc::new(matcher), compile(state, &filters, &self.schema)?))
    }

    /// DELETE of the rows matching every filter.
    pub(crate) fn delete_exec(&self, state: &dyn Session, filters: &[Expr]) -> Result<DmlExec> {
        let (matcher, predicate) = self.write_matcher(state, filters)?;
        Ok(DmlExec::new(
            self.access.clone(),
            DmlKind::Delete {
                matcher,
                predicate,
                schema: self.schema.clone(),
            },
        ))
    }

    /// UPDATE of the rows matching every filter, with `assignments` (column, new value).
    pub(crate) fn update_exec(
        &self,
        state: &dyn Session,
        assignments: Vec<(String, Expr)>,
        filters: &[Expr],
    ) -> Result<DmlExec> {
        let schema = self.access.schema();
        let mut compiled = Vec::new();
        for (column, expr) in assignments {
            let i = schema.column_index(&column).ok_or_else(|| {
                DataFusionError::Plan(format!(
                    "unknown column '{column}' in table '{}'",
                    schema.name
                ))
            })?;
            let e = simplified(state, &[expr], &self.schema)?;
            compiled.push((i, compile(state, &e, &self.schema)?.remove(0)));
        }
        let (matcher, predicate) = self.write_matcher(state, filters)?;
        Ok(DmlExec::new(
            self.access.clone(),
            DmlKind::Update {
                matcher,
                predicate,
                assignments: compiled,
                schema: self.schema.clone(),
            },
        )
        .with_check(self.check.clone()))
    }
}
